package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/githubcred"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v88/github"
)

// CommandRunner runs an external command (the pinned CDK CLI). Its output goes
// to the user's terminal, never into the report. Tests replace it.
type CommandRunner interface {
	Run(ctx context.Context, name string, args ...string) error
}

// GitHubOptions says where GitHub is. Tests point APIURL at an httptest server.
type GitHubOptions struct {
	// APIURL is the REST API root, with a trailing slash.
	//
	// Default: https://api.github.com/
	APIURL string
	// HTTPClient carries the requests; its Transport is wrapped, never modified.
	//
	// Default: a client with a 30-second timeout
	HTTPClient *http.Client
}

// Inputs is everything one run needs.
type Inputs struct {
	Env   config.Environment
	Apply bool
	AWS   AWS
	// Account is the caller's account, already checked against Env.Account.
	Account  string
	GitHub   GitHubOptions
	Commands CommandRunner
	// AdminToken returns the Synapse admin token to store. It is called at most
	// once, and only when apply has to set the secret's value.
	AdminToken func() ([]byte, error)
	// Redactor scrubs every secret value the run reads from the printed rows.
	Redactor *Redactor
	Log      *slog.Logger
}

// ErrWrongAccount is returned by CallerAccount when the credentials belong to
// another account than the environment's.
var ErrWrongAccount = errors.New("wrong AWS account")

// CallerAccount returns the caller's account and refuses any account other than
// env.Account: a prod config run with dev credentials (or the reverse) must stop
// before it reads or changes anything.
func CallerAccount(ctx context.Context, api STSAPI, env config.Environment) (string, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts:GetCallerIdentity: %s", errMessage(err))
	}
	account := ""
	if out.Account != nil {
		account = *out.Account
	}
	if account != env.Account {
		return account, fmt.Errorf("%w: the credentials are for account %s but environment %s is account %s; use the %s account's credentials",
			ErrWrongAccount, account, env.Name, env.Account, env.Name)
	}
	return account, nil
}

type runner struct {
	in   Inputs
	rows []Row

	// Filled as the checks go, for the checks that depend on them.
	cred     *githubcred.Credential
	gh       *github.Client
	appTr    *ghinstallation.Transport
	repo     *github.Repository
	ghBroken string // why GitHub checks cannot run, when they cannot
	// ghSkipped, when set, is how to run the GitHub checks this principal had to
	// skip: the stack's policy keeps the credential from it, by design.
	ghSkipped string

	stackRead bool
	stack     *cfntypes.Stack
	stackErr  error
	policies  map[string]policyResult
}

// Run performs every check in order (AWS first, then GitHub, whose credential
// lives in AWS) and, when in.Apply is set, fixes what it safely can. It returns
// one row per check; it never stops early.
func Run(ctx context.Context, in Inputs) []Row {
	if in.Redactor == nil {
		in.Redactor = &Redactor{}
	}
	if in.Log == nil {
		in.Log = slog.New(slog.DiscardHandler)
	}
	r := &runner{in: in}
	r.add(Row{Check: "aws account", State: OK, Detail: fmt.Sprintf("caller is in account %s, the account of %s", in.Account, in.Env.Name)})
	r.do(ctx, r.checkCdk, r.fixCdk)
	r.do(ctx, r.checkOidc, r.fixOidc)
	r.network(ctx)
	r.do(ctx, r.checkAdminToken, r.fixAdminToken)
	r.adminTokenPolicy(ctx)
	r.checkCredentialSecret(ctx)
	r.credentialPolicy(ctx)
	r.github(ctx)
	r.variables(ctx)
	return r.rows
}

func (r *runner) add(row Row) { r.rows = append(r.rows, r.in.Redactor.Row(row)) }

// do runs one check and, in apply mode, its fix, then checks again so the row
// shows the state after the change. A fix returns "" when it does not handle the
// row's state (the row's Fix then tells the user what to do).
func (r *runner) do(ctx context.Context, check func(context.Context) Row, fix func(context.Context, Row) (string, error)) {
	row := check(ctx)
	if r.in.Apply && fix != nil && (row.State == Missing || row.State == Wrong) {
		action, err := fix(ctx, row)
		switch {
		case err != nil:
			failed := errorRow(row.Check, "apply", err)
			row.State = Error
			row.Action = "tried to fix and failed: " + strings.TrimPrefix(failed.Detail, "apply failed: ")
			row.Fix = failed.Fix + "; or: " + row.Fix
			r.in.Log.Warn("fix failed", "check", row.Check, "error", r.in.Redactor.String(errMessage(err)))
		case action != "":
			r.in.Log.Info("fixed", "check", row.Check, "action", action)
			row = check(ctx)
			row.Action = action
		}
	}
	r.add(row)
}

// shellQuote renders a command for the Fix column so it can be pasted.
func shellQuote(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$&|;<>()*?!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
