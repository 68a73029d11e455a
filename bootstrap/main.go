// Command bootstrap checks, and on request prepares, an AWS account and its
// GitHub side for the first deploy of synapse-ops-runners:
//
//	bin/bootstrap [plan|apply] --env dev [--json] [--admin-token-file F]
//
// plan (the default) only reads. apply creates or fixes what it safely can and
// is idempotent. Exit status: 0 all ok, 1 something missing or wrong, 2 the tool
// could not run. See docs/bootstrap.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/bootstrap/checks"
	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, realDeps())
	stop()
	os.Exit(code)
}

// Deps are the outside world, replaced by fakes in tests.
type Deps struct {
	// AWS returns the clients for a region. Loading never fails for missing
	// credentials; the first call does, and run reports it with exit 2.
	AWS func(ctx context.Context, region string) (checks.AWS, error)
	// GitHub says where GitHub's API is.
	GitHub checks.GitHubOptions
	// Commands runs the CDK CLI.
	Commands checks.CommandRunner
	// Terminal returns a no-echo line reader when stdin is a terminal, or
	// ok=false (the token is then read from the pipe).
	Terminal func(stdin io.Reader) (readHidden func() ([]byte, error), ok bool)
}

func realDeps() Deps {
	return Deps{
		AWS: func(ctx context.Context, region string) (checks.AWS, error) {
			// The standard retryer backs off on throttling; a bounded number of
			// attempts keeps a throttled check from stalling the whole run.
			cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region),
				// The SDK's own log lines (IMDS fallbacks) would break the one-line
				// reason the tool promises; errors still come back as values.
				awsconfig.WithLogger(logging.Nop{}),
				awsconfig.WithRetryer(func() aws.Retryer {
					return retry.NewStandard(func(o *retry.StandardOptions) {
						o.MaxAttempts = 6
						o.MaxBackoff = 10 * time.Second
					})
				}))
			if err != nil {
				return checks.AWS{}, err
			}
			return checks.AWS{
				STS: sts.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg), CloudFormation: cloudformation.NewFromConfig(cfg),
				IAM: iam.NewFromConfig(cfg), EC2: ec2.NewFromConfig(cfg), SecretsManager: secretsmanager.NewFromConfig(cfg),
			}, nil
		},
		GitHub:   checks.GitHubOptions{HTTPClient: &http.Client{Timeout: 30 * time.Second}},
		Commands: execRunner{},
		Terminal: func(stdin io.Reader) (func() ([]byte, error), bool) {
			f, ok := stdin.(*os.File)
			if !ok || !term.IsTerminal(int(f.Fd())) {
				return nil, false
			}
			return func() ([]byte, error) { return term.ReadPassword(int(f.Fd())) }, true
		},
	}
}

// execRunner runs a command with its output on stderr, so stdout stays the
// report (and valid JSON with --json).
type execRunner struct{}

func (execRunner) Run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stderr, os.Stderr, nil
	return cmd.Run()
}

// errUsage is a mistake on the command line; flag already printed the details.
var errUsage = errors.New("usage")

type options struct {
	mode           string
	env            string
	configDir      string
	json           bool
	verbose        bool
	adminTokenFile string
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.env, "env", "", "environment to check, as in environments/<env>.json (required when several exist)")
	fs.StringVar(&o.configDir, "config-dir", config.DefaultDir, "directory of the environment files")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.BoolVar(&o.verbose, "verbose", false, "log each change apply makes (JSON, on stderr)")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "apply: read the Synapse admin token from this file instead of standard input")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bin/bootstrap [plan|apply] --env <name> [--json] [--admin-token-file F]")
		fs.PrintDefaults()
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.mode, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return o, errUsage
	}
	if o.mode == "" && fs.NArg() > 0 {
		o.mode = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil { // flags after the mode
			return o, errUsage
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; usage: bin/bootstrap [plan|apply] --env <name>", fs.Arg(0))
	}
	switch o.mode {
	case "":
		o.mode = "plan"
	case "plan", "apply":
	default:
		return o, fmt.Errorf("unknown mode %q; use plan or apply", o.mode)
	}
	return o, nil
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, deps Deps) int {
	fail := func(format string, a ...any) int {
		// One line, whatever the cause's message looks like.
		fmt.Fprintln(stderr, "bootstrap: "+strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " "))
		return 2
	}
	o, err := parseArgs(args, stderr)
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		return fail("%v", err)
	}
	envs, err := config.LoadDir(o.configDir)
	if err != nil {
		return fail("bad config: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if o.env == "" {
		if len(envs) != 1 {
			names := make([]string, len(envs))
			for i, e := range envs {
				names[i] = e.Name
			}
			return fail("choose an environment with --env (one of: %s)", strings.Join(names, ", "))
		}
		o.env = envs[0].Name
	}
	selected, err := config.Select(envs, o.env)
	if err != nil {
		return fail("%s", strings.Replace(err.Error(), "--context env=<name>", "--env <name>", 1))
	}
	env := selected[0]

	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("env", env.Name)

	clients, err := deps.AWS(ctx, env.Region)
	if err != nil {
		return fail("cannot load the AWS configuration: %v", err)
	}
	account, err := checks.CallerAccount(ctx, clients.STS, env)
	switch {
	case errors.Is(err, checks.ErrWrongAccount):
		return fail("refusing to run: %v", err)
	case err != nil:
		return fail("no usable AWS credentials for %s (%v); sign in to account %s (for example aws sso login, or set AWS_PROFILE) and run again", env.Name, err, env.Account)
	}

	redactor := &checks.Redactor{}
	rows := checks.Run(ctx, checks.Inputs{
		Env: env, Apply: o.mode == "apply", AWS: clients, Account: account,
		GitHub: deps.GitHub, Commands: deps.Commands, Redactor: redactor, Log: log,
		AdminToken: func() ([]byte, error) { return readAdminToken(o.adminTokenFile, env, stdin, stderr, deps.Terminal) },
	})
	rep := checks.Report{Environment: env.Name, Account: account, Region: env.Region, Mode: o.mode, Rows: rows, ExitCode: checks.ExitCode(rows)}
	if o.json {
		err = checks.WriteJSON(stdout, rep)
	} else {
		err = checks.WriteTable(stdout, rep)
	}
	if err != nil {
		return fail("writing the report: %v", err)
	}
	return rep.ExitCode
}

// maxTokenBytes bounds what is read as a token: a Synapse PAT is well under 4 KiB.
const maxTokenBytes = 64 << 10

// readAdminToken takes the token from --admin-token-file, or from standard
// input: hidden when it is a terminal, else read from the pipe. Never from a
// flag value or an environment variable, which end up in shell history and
// process listings.
func readAdminToken(file string, env config.Environment, stdin io.Reader, stderr io.Writer, terminal func(io.Reader) (func() ([]byte, error), bool)) ([]byte, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading --admin-token-file: %w", errors.Unwrap(err))
		}
		// Opened for reading: closing it cannot lose data.
		defer func() { _ = f.Close() }()
		b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes))
		if err != nil {
			return nil, fmt.Errorf("reading --admin-token-file: %w", err)
		}
		return b, nil
	}
	if terminal != nil {
		if readHidden, ok := terminal(stdin); ok {
			fmt.Fprintf(stderr, "Synapse admin token for %s (%s), input hidden: ", env.Name, env.AdminToken.SecretName)
			b, err := readHidden()
			fmt.Fprintln(stderr)
			if err != nil {
				return nil, fmt.Errorf("reading the admin token from the terminal: %w", err)
			}
			return b, nil
		}
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxTokenBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the admin token from standard input: %w", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("%w on standard input; pipe it in or use --admin-token-file", checks.ErrNoToken)
	}
	return b, nil
}
