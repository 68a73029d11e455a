package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/bootstrap/checks"
	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// The phrase the credential row must show when the stack's policy, working as
// designed, keeps the credential from the operator.
const behindPolicy = "readable only by the controller and 1 break-glass principal (resource policy); shape not checked from this principal"

// TestCredentialDeniedByStackPolicy runs as an operator who is not a
// break-glass principal, after the deploy: the credential is denied by design.
func TestCredentialDeniedByStackPolicy(t *testing.T) {
	t.Run("ok from metadata, GitHub checks skipped with how to run them", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "github credential secret", checks.OK, credSecret+" has a current value, "+behindPolicy)
		gh := res.wantState(t, "github", checks.Skipped, "skipped:", "bin/bootstrap plan --env test", "break-glass principal", breakGlassRole)
		if strings.Contains(gh.Detail, "error") {
			t.Errorf("skipped row reads like an error: %q", gh.Detail)
		}
		res.wantState(t, "repository variables", checks.Skipped, "skipped:", "ADMIN_TOKEN_SECRET", breakGlassRole, "gh variable list --repo "+testRepo)
		for _, c := range []string{"github credential works", "github permissions", "repository", "runner group " + longGroup, "variable CONTEXT"} {
			for _, r := range res.report.Rows {
				if r.Check == c {
					t.Errorf("row %q ran without the credential: %+v", c, r)
				}
			}
		}
		// Metadata and policies are readable by anyone allowed to describe them.
		res.wantState(t, "admin token secret", checks.OK, "has a current value")
		res.wantState(t, "github credential policy", checks.OK)
		res.wantState(t, "admin token policy", checks.OK)
		if res.code != 0 || res.report.ExitCode != 0 {
			t.Errorf("exit %d: skipped rows must not fail the run\n%s", res.code, res.stdout)
		}
		if w.gh.requests != 0 {
			t.Errorf("%d GitHub requests without a credential", w.gh.requests)
		}
		if slices.Contains(w.sm.reads, adminSecret) {
			t.Errorf("the admin token's value was read: %v", w.sm.reads)
		}
		tab := w.run("plan", "--env", "test")
		if !strings.Contains(tab.stdout, "skipped") || !strings.Contains(tab.stdout, "2 skipped") {
			t.Errorf("table does not show the skipped rows:\n%s", tab.stdout)
		}
	})
	t.Run("apply changes nothing on GitHub", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		delete(w.gh.variables, "ADMIN_TOKEN_SECRET")
		res := w.run("apply", "--env", "test", "--json")
		res.wantState(t, "repository variables", checks.Skipped)
		if len(w.gh.writes) != 0 || w.gh.requests != 0 || len(checks.Changed(res.report.Rows)) != 0 {
			t.Errorf("apply touched GitHub: %v (%d requests)", w.gh.writes, w.gh.requests)
		}
	})
	t.Run("no break-glass principal: fix says to add one", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		w.env.GitHubCredential.AdminPrincipalArns = nil
		w.protect(credSecret, controllerRole)
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "github credential secret", checks.OK, "readable only by the controller and 0 break-glass principals")
		res.wantState(t, "github", checks.Skipped, "add a break-glass principal to githubCredential.adminPrincipalArns in environments/test.json")
		res.wantState(t, "github credential policy", checks.OK, "only by "+controllerRole+" and 0 break-glass principals")
	})
	t.Run("missing: no value, seen from metadata", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		w.sm.secrets[credSecret].value = nil
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "github credential secret", checks.Missing, "exists but has no value", "put-secret-value --secret-id "+credSecret)
		res.wantState(t, "github", checks.Error, "GitHub checks skipped: the GitHub credential secret is missing")
	})
	t.Run("wrong: scheduled for deletion, seen from metadata", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		w.sm.secrets[credSecret].deleted = true
		w.run("plan", "--env", "test", "--json").wantState(t, "github credential secret", checks.Wrong, "scheduled for deletion", "restore-secret")
	})
	t.Run("denied by a policy that is not the stack's: error as before", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		// A deny that exempts the runners, not the controller, is not the stack's.
		w.protect(credSecret, runnerRole, breakGlassRole)
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "github credential secret", checks.Error, "access denied calling secretsmanager:GetSecretValue")
		res.wantState(t, "github", checks.Error, "could not be read")
		res.wantState(t, "github credential policy", checks.Wrong, "denies "+controllerRole+", which must read it")
		if res.code != 1 {
			t.Errorf("exit %d, want 1", res.code)
		}
	})
	t.Run("denied, policy unreadable too: error names both calls", func(t *testing.T) {
		w := newWorld(t)
		w.sm.caller = operatorRole
		w.sw.errs["GetResourcePolicy"] = errDenied
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "github credential secret", checks.Error, "access denied calling secretsmanager:GetSecretValue", "reading its resource policy failed too: AccessDeniedException")
		res.wantState(t, "github credential policy", checks.Error, "access denied calling secretsmanager:GetResourcePolicy")
		res.wantState(t, "admin token policy", checks.Error, "access denied calling secretsmanager:GetResourcePolicy")
	})
	t.Run("break-glass principal still checks the shape", func(t *testing.T) {
		w := newWorld(t) // runs as breakGlassRole
		res := w.run("plan", "--env", "test", "--json")
		row := res.wantState(t, "github credential secret", checks.OK, "holds a GitHub App")
		if strings.Contains(row.Detail, "not checked") {
			t.Errorf("break-glass run did not check the shape: %q", row.Detail)
		}
		res.wantState(t, "github credential works", checks.OK)
	})
}

// TestSecretPolicies covers the policy rows: ok, skipped before the deploy,
// wrong when the deployed stack's policy is absent or out of date, missing
// when there is no secret, error when the policy cannot be read.
func TestSecretPolicies(t *testing.T) {
	t.Run("ok: both secrets carry the stack's policy", func(t *testing.T) {
		res := newWorld(t).run("plan", "--env", "test", "--json")
		res.wantState(t, "admin token policy", checks.OK, adminSecret+" is readable only by "+runnerRole+" and 1 break-glass principal (resource policy)")
		res.wantState(t, "github credential policy", checks.OK, credSecret+" is readable only by "+controllerRole+" and 1 break-glass principal (resource policy)")
	})
	t.Run("before the deploy: skipped, and a denied read is an error as before", func(t *testing.T) {
		w := newWorld(t)
		delete(w.cfn.stacks, w.env.StackName())
		w.unprotect(adminSecret)
		w.unprotect(credSecret)
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "admin token policy", checks.Skipped, "not deployed yet", "first deploy attaches the policy")
		res.wantState(t, "github credential policy", checks.Skipped, "not deployed yet")
		res.wantState(t, "github credential secret", checks.OK, "holds a GitHub App")
		w.sw.errs["GetSecretValue"] = errDenied
		res = w.run("plan", "--env", "test", "--json")
		res.wantState(t, "github credential secret", checks.Error, "access denied calling secretsmanager:GetSecretValue")
	})
	for _, tc := range []struct{ secret, row string }{{adminSecret, "admin token policy"}, {credSecret, "github credential policy"}} {
		t.Run("wrong: deployed, "+tc.row+" absent", func(t *testing.T) {
			w := newWorld(t)
			w.unprotect(tc.secret)
			res := w.run("apply", "--env", "test", "--json")
			row := res.wantState(t, tc.row, checks.Wrong, tc.secret+" has no resource policy")
			if !strings.HasPrefix(row.Fix, "deploy the stack (it attaches the policy)") || row.Action != "" {
				t.Errorf("fix %q, action %q", row.Fix, row.Action)
			}
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
		})
	}
	t.Run("wrong: a policy that is not the deny", func(t *testing.T) {
		w := newWorld(t)
		w.sm.secrets[credSecret].policy = new(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + operatorRole + `"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`)
		w.run("plan", "--env", "test", "--json").wantState(t, "github credential policy", checks.Wrong, "does not deny secretsmanager:GetSecretValue to every principal except "+controllerRole)
	})
	t.Run("wrong: config changed since the deploy", func(t *testing.T) {
		w := newWorld(t)
		w.env.GitHubCredential.AdminPrincipalArns = []string{operatorRole}
		row := w.run("plan", "--env", "test", "--json").wantState(t, "github credential policy", checks.Wrong,
			"lets "+breakGlassRole+" read it, which githubCredential.adminPrincipalArns does not list",
			"denies "+operatorRole+", which githubCredential.adminPrincipalArns lists", "deploy the stack")
		if !strings.Contains(row.Fix, "npx cdk deploy --context env=test") {
			t.Errorf("fix %q", row.Fix)
		}
	})
	t.Run("missing: no secret", func(t *testing.T) {
		w := newWorld(t)
		delete(w.sm.secrets, adminSecret)
		w.run("plan", "--env", "test", "--json").wantState(t, "admin token policy", checks.Missing, "no secret "+adminSecret, "admin token secret row")
	})
	t.Run("denied: policy unreadable", func(t *testing.T) {
		w := newWorld(t)
		w.sw.errs["GetResourcePolicy"] = errDenied
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "admin token policy", checks.Error, "access denied calling secretsmanager:GetResourcePolicy "+adminSecret)
		res.wantState(t, "github credential secret", checks.OK, "holds a GitHub App") // the break-glass read does not need it
	})
}

// TestStackOutputsCoverVariables keeps the test world in step with config: a
// variable added there without an output here would make every test fail in a
// confusing way.
func TestStackOutputsCoverVariables(t *testing.T) {
	have := map[string]bool{}
	for _, o := range stackOutputs(testEnv().WithDefaults()) {
		have[*o.OutputKey] = true
	}
	for _, name := range slices.Sorted(maps.Keys(config.RepositoryVariables)) {
		if !have[config.RepositoryVariables[name]] {
			t.Errorf("variable %s: the test stack has no output %s", name, config.RepositoryVariables[name])
		}
	}
}

func TestAdminTokenSecretVariable(t *testing.T) {
	t.Run("missing: apply sets it to the secret's name", func(t *testing.T) {
		w := newWorld(t)
		delete(w.gh.variables, "ADMIN_TOKEN_SECRET")
		w.run("plan", "--env", "test", "--json").wantState(t, "variable ADMIN_TOKEN_SECRET", checks.Missing, "stack output is "+adminSecret)
		w.run("apply", "--env", "test", "--json").wantState(t, "variable ADMIN_TOKEN_SECRET", checks.OK, "created ADMIN_TOKEN_SECRET")
		if got := w.gh.variables["ADMIN_TOKEN_SECRET"]; got != adminSecret {
			t.Errorf("ADMIN_TOKEN_SECRET = %q", got)
		}
	})
	t.Run("wrong: stack deployed before the output existed", func(t *testing.T) {
		w := newWorld(t)
		s := w.cfn.stacks[w.env.StackName()]
		s.Outputs = slices.DeleteFunc(slices.Clone(s.Outputs), func(o cfntypes.Output) bool { return *o.OutputKey == config.OutputAdminTokenSecret })
		w.cfn.stacks[w.env.StackName()] = s
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "variable ADMIN_TOKEN_SECRET", checks.Wrong, "has no output AdminTokenSecretName", "npx cdk deploy --context env=test")
		res.wantState(t, "variable CONTEXT", checks.OK)
		// Seen from AWS alone: still reported when GitHub is skipped.
		w.sm.caller = operatorRole
		res = w.run("plan", "--env", "test", "--json")
		res.wantState(t, "variable ADMIN_TOKEN_SECRET", checks.Wrong, "has no output AdminTokenSecretName")
		row := res.wantState(t, "repository variables", checks.Skipped)
		if strings.Contains(row.Detail, "ADMIN_TOKEN_SECRET") {
			t.Errorf("skipped row lists a variable already reported: %q", row.Detail)
		}
	})
}
