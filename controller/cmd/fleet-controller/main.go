// Command fleet-controller runs the synapse-ops-runners fleet controller on its
// instance: it reads the settings the CDK construct wrote, the GitHub credential
// from Secrets Manager, and runs until SIGTERM. Logs and metrics are JSON lines
// on stdout (the metrics in CloudWatch embedded metric format).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/githubcred"
)

func main() {
	path := flag.String("settings", settings.DefaultPath, "path of the settings JSON written by the CDK construct")
	flag.Parse()
	out := &controller.LockedWriter{W: os.Stdout}
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, *path, out, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("fleet controller stopped", "error", err.Error())
		os.Exit(1)
	}
	log.Info("fleet controller stopped")
}

func run(ctx context.Context, path string, out *controller.LockedWriter, log *slog.Logger) error {
	s, err := settings.Load(path)
	if err != nil {
		return err
	}
	log = log.With("environment", s.Environment)
	// The controller's Backoff is the one retry loop for AWS and GitHub (for AWS
	// it asks the SDK's own retryable and throttle classification), so the SDK
	// makes single attempts and retries are not multiplied.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.Region), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	namespace := s.MetricsNamespace
	if namespace == "" {
		namespace = controller.DefaultMetricsNamespace
	}
	metrics := controller.NewMetrics(out, namespace, s.Environment, time.Now)
	retry := controller.Backoff{OnRetry: func(op string, attempt int, d time.Duration, err error) {
		log.Warn("retrying", "op", op, "attempt", attempt, "delay_ms", d.Milliseconds(), "error", err.Error())
	}}
	secrets := secretsmanager.NewFromConfig(cfg)
	connect := func(ctx context.Context) (*controller.Connection, error) {
		sv, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.CredentialSecretArn)})
		if err != nil {
			return nil, fmt.Errorf("read GitHub credential secret: %w", err)
		}
		cred, err := githubcred.Parse([]byte(aws.ToString(sv.SecretString)), s.CredentialKind)
		if err != nil {
			return nil, err
		}
		log.Info("GitHub credential loaded", "credential", cred.String())
		return controller.NewConnection(cred, controller.ConnectOptions{
			GitHubURL: s.GitHubURL,
			OnRateLimit: func(n int) {
				metrics.Put("", controller.MetricValue{Name: controller.MetricRateLimitRemaining, Unit: "Count", Value: float64(n)})
			},
		})
	}
	gh, err := controller.NewGitHub(ctx, connect, retry, log)
	if err != nil {
		return err
	}
	c, err := controller.New(controller.Options{
		Settings:    s,
		GitHub:      gh,
		AutoScaling: autoscaling.NewFromConfig(cfg),
		EC2:         ec2.NewFromConfig(cfg),
		SSM:         ssm.NewFromConfig(cfg),
		SQS:         sqs.NewFromConfig(cfg),
		SNS:         sns.NewFromConfig(cfg),
		Metrics:     metrics,
		Logger:      log,
		Retry:       retry,
	})
	if err != nil {
		return err
	}
	log.Info("fleet controller starting", "pools", len(s.Pools), "repository", s.Repository)
	// Upkeep beside the main loop (issue 12): processes the pools must keep
	// suspended, and the runner release instances install.
	asg, ssmClient := autoscaling.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	go keepProcessesSuspended(ctx, asg, s, metrics, log)
	go keepRunnerCurrent(ctx, ssmClient, s, metrics, log)
	return c.Run(ctx)
}
