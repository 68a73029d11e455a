package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/google/go-github/v88/github"
)

const checkStack = "stack outputs"

// variables compares the ops repository's variables with the deployed stack's
// outputs. Before the first deploy there is nothing to compare: that row says so.
// That the stack has every output is checked from AWS alone, so it is reported
// even when the GitHub side cannot be read.
func (r *runner) variables(ctx context.Context) {
	env := r.in.Env
	stackName := env.StackName()
	stack, err := r.runnerStack(ctx)
	if err != nil {
		r.add(errorRow(checkStack, "cloudformation:DescribeStacks "+stackName, err))
		return
	}
	if stack == nil {
		r.add(Row{Check: checkStack, State: Missing,
			Detail: fmt.Sprintf("stack %s is not deployed yet; repository variables are checked after the first deploy", stackName),
			Fix:    fmt.Sprintf("npx cdk deploy --context env=%s, then bin/bootstrap apply --env %s", env.Name, env.Name)})
		return
	}
	outputs := map[string]string{}
	for _, o := range stack.Outputs {
		outputs[deref(o.OutputKey)] = deref(o.OutputValue)
	}
	var present []string
	for _, name := range sortedKeys(config.RepositoryVariables) {
		output := config.RepositoryVariables[name]
		if _, ok := outputs[output]; !ok {
			r.add(Row{Check: "variable " + name, State: Wrong, Detail: fmt.Sprintf("stack %s has no output %s", stackName, output),
				Fix: fmt.Sprintf("deploy the current app (npx cdk deploy --context env=%s)", env.Name)})
			continue
		}
		present = append(present, name)
	}
	if len(present) == 0 {
		return
	}
	if r.gh == nil || r.repo == nil {
		if r.ghSkipped != "" {
			r.add(Row{Check: "repository variables", State: Skipped,
				Detail: "skipped: reading " + strings.Join(present, ", ") + " needs the GitHub credential, which the stack's resource policy keeps from this principal",
				Fix:    r.ghSkipped + "; or compare by hand: gh variable list --repo " + env.Repository})
			return
		}
		why := r.ghBroken
		if why == "" {
			why = "the repository could not be read"
		}
		r.add(Row{Check: "repository variables", State: Error, Detail: "not checked: " + why, Fix: "fix the GitHub rows first"})
		return
	}
	owner, repo, _ := strings.Cut(env.Repository, "/")
	for _, name := range present {
		want := outputs[config.RepositoryVariables[name]]
		r.do(ctx, func(ctx context.Context) Row { return r.checkVariable(ctx, owner, repo, name, want) },
			func(ctx context.Context, row Row) (string, error) {
				return r.fixVariable(ctx, owner, repo, name, want, row)
			})
	}
}

func (r *runner) checkVariable(ctx context.Context, owner, repo, name, want string) Row {
	check := "variable " + name
	set := shellQuote("gh", "variable", "set", name, "--repo", owner+"/"+repo, "--body", want)
	v, _, err := r.gh.Actions.GetRepoVariable(ctx, owner, repo, name)
	if err != nil {
		if Classify(err) == KindNotFound {
			return Row{Check: check, State: Missing, Detail: "not set; stack output is " + want, Fix: "run apply, or: " + set}
		}
		row := errorRow(check, "GET repository variable "+name, err)
		if Classify(err) == KindDenied {
			row.Fix = "give the credential repository Variables read/write, or set it by hand: " + set
		}
		return row
	}
	if v.Value != want {
		return Row{Check: check, State: Wrong, Detail: fmt.Sprintf("is %q; stack output is %q", v.Value, want), Fix: "run apply, or: " + set}
	}
	return Row{Check: check, State: OK, Detail: "matches the stack output: " + want}
}

func (r *runner) fixVariable(ctx context.Context, owner, repo, name, want string, row Row) (string, error) {
	v := &github.ActionsVariable{Name: name, Value: want}
	if row.State == Missing {
		if _, err := r.gh.Actions.CreateRepoVariable(ctx, owner, repo, v); err != nil {
			return "", fmt.Errorf("creating variable %s: %w", name, err)
		}
		return "created " + name, nil
	}
	if _, err := r.gh.Actions.UpdateRepoVariable(ctx, owner, repo, v); err != nil {
		return "", fmt.Errorf("updating variable %s: %w", name, err)
	}
	return "updated " + name, nil
}
