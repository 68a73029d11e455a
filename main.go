// Command synapse-ops-runners is the CDK app: it synthesizes one runner stack per
// configured environment (or only the one named with --context env=<name>).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/stacks"
)

func main() {
	app := awscdk.NewApp(nil)
	envs, err := selectEnvironments(app)
	if err != nil {
		fmt.Fprintf(os.Stderr, "synapse-ops-runners: configuration error; no stack was built:\n%v\n", err)
		jsii.Close()
		os.Exit(1)
	}
	for _, env := range envs {
		stacks.NewRunnerStack(app, stacks.RunnerStackProps{Environment: env})
	}
	app.Synth(nil)
	jsii.Close()
}

// selectEnvironments loads environments/ (or the directory in the config-dir
// context) and keeps the one named by the env context, or all of them.
func selectEnvironments(app awscdk.App) ([]config.Environment, error) {
	dir := contextString(app, "config-dir", config.DefaultDir)
	all, err := config.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	return config.Select(all, contextString(app, "env", ""))
}

func contextString(app awscdk.App, key, fallback string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return fallback
}
