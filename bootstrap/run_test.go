package main

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/bootstrap/checks"
	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestPlanAllOK(t *testing.T) {
	w := newWorld(t)
	res := w.run("plan", "--env", "test", "--json")
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, r := range res.report.Rows {
		if r.State != checks.OK {
			t.Errorf("row %q is %s: %s", r.Check, r.State, r.Detail)
		}
	}
	want := []string{"cdk bootstrap", "github oidc provider", "vpc", "subnet " + subnetIDs[0], "admin token secret", "admin token policy",
		"github credential secret", "github credential policy", "github credential works", "github permissions", "repository",
		"runner group Default", "runner group " + longGroup}
	for _, name := range slices.Sorted(maps.Keys(config.RepositoryVariables)) {
		want = append(want, "variable "+name)
	}
	for _, c := range want {
		res.row(t, c)
	}
	if slices.Contains(w.sm.reads, adminSecret) {
		t.Errorf("plan read the admin token's value: %v", w.sm.reads)
	}
	// The table form has the same rows and no ACTION column in plan.
	tab := w.run("--env", "test")
	if tab.code != 0 || !strings.Contains(tab.stdout, "CHECK") || strings.Contains(tab.stdout, "ACTION") || !strings.Contains(tab.stdout, "runner group "+longGroup) {
		t.Errorf("table (exit %d):\n%s", tab.code, tab.stdout)
	}
}

func TestCdkBootstrap(t *testing.T) {
	t.Run("missing: apply runs the pinned CLI once", func(t *testing.T) {
		w := newWorld(t)
		delete(w.ssm.params, "/cdk-bootstrap/hnb659fds/version")
		delete(w.cfn.stacks, "cdk-bootstrap-default")
		w.commands.onRun = func([]string) {
			w.ssm.params["/cdk-bootstrap/hnb659fds/version"] = "30"
			w.cfn.stacks["cdk-bootstrap-default"] = cfntypes.Stack{StackName: new("cdk-bootstrap-default"), StackStatus: cfntypes.StackStatusCreateComplete}
		}
		plan := w.run("plan", "--env", "test", "--json")
		plan.wantState(t, "cdk bootstrap", checks.Missing, "npx cdk bootstrap aws://111111111111/us-east-1")
		if plan.code != 1 || len(w.commands.runs) != 0 {
			t.Fatalf("plan exit %d, ran %v", plan.code, w.commands.runs)
		}
		apply := w.run("apply", "--env", "test", "--json")
		apply.wantState(t, "cdk bootstrap", checks.OK, "ran npx cdk bootstrap")
		want := []string{"npx", "cdk", "bootstrap", "aws://111111111111/us-east-1", "--qualifier", "hnb659fds", "--toolkit-stack-name", "cdk-bootstrap-default",
			"--cloudformation-execution-policies", "arn:aws:iam::aws:policy/AdministratorAccess"}
		if len(w.commands.runs) != 1 || !slices.Equal(w.commands.runs[0][:len(want)], want) {
			t.Fatalf("ran %q", w.commands.runs)
		}
		w.run("apply", "--env", "test", "--json")
		if len(w.commands.runs) != 1 {
			t.Errorf("second apply ran the CLI again: %q", w.commands.runs)
		}
	})
	t.Run("wrong: old version is never redeployed", func(t *testing.T) {
		w := newWorld(t)
		w.ssm.params["/cdk-bootstrap/hnb659fds/version"] = "5"
		w.run("apply", "--env", "test", "--json").wantState(t, "cdk bootstrap", checks.Wrong, "version 5 is older than 6")
		if len(w.commands.runs) != 0 {
			t.Errorf("apply ran %q over an existing bootstrap", w.commands.runs)
		}
	})
	t.Run("wrong: stack with another qualifier", func(t *testing.T) {
		w := newWorld(t)
		delete(w.ssm.params, "/cdk-bootstrap/hnb659fds/version")
		w.run("apply", "--env", "test", "--json").wantState(t, "cdk bootstrap", checks.Wrong, "set cdkBootstrap.qualifier")
		if len(w.commands.runs) != 0 {
			t.Errorf("apply ran %q over an existing bootstrap stack", w.commands.runs)
		}
	})
}

func TestOidcProvider(t *testing.T) {
	arn := "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
	t.Run("missing and not owned: apply leaves it to the baseline", func(t *testing.T) {
		w := newWorld(t)
		delete(w.iam.providers, arn)
		w.run("apply", "--env", "test", "--json").wantState(t, "github oidc provider", checks.Missing, "organisation baseline")
		if len(w.sw.writes) != 0 {
			t.Errorf("writes %v", w.sw.writes)
		}
	})
	t.Run("missing and owned: left to the stack's first deploy", func(t *testing.T) {
		w := newWorld(t)
		w.env.GitHubOidc.CreateProvider, w.env.GitHubOidc.ProviderArn = true, ""
		delete(w.iam.providers, arn)
		w.run("apply", "--env", "test", "--json").wantState(t, "github oidc provider", checks.OK, "the first cdk deploy creates")
		// Creating it here would make the stack's own provider fail to create.
		if got, ok := w.iam.providers[arn]; ok {
			t.Errorf("apply created the provider (audiences %v); the stack owns it", got)
		}
	})
	t.Run("wrong audience", func(t *testing.T) {
		w := newWorld(t)
		w.iam.providers[arn] = []string{"sigstore"}
		w.run("plan", "--env", "test", "--json").wantState(t, "github oidc provider", checks.Wrong, "does not accept audience sts.amazonaws.com")
	})
}

func TestNetwork(t *testing.T) {
	t.Run("vpc missing", func(t *testing.T) {
		w := newWorld(t)
		w.env.Vpc.ID = "vpc-0ccccccccccccccc3"
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "vpc", checks.Missing, "no VPC vpc-0ccccccccccccccc3")
	})
	t.Run("placeholder vpc lists the account's VPCs", func(t *testing.T) {
		w := newWorld(t)
		w.env.Vpc.ID = "TODO"
		w.run("plan", "--env", "test", "--json").wantState(t, "vpc", checks.Missing, testVpc+" (sagevpc, 10.11.0.0/16)", "vpc-0bbbbbbbbbbbbbbb2")
	})
	t.Run("placeholder subnets list only private subnets", func(t *testing.T) {
		w := newWorld(t)
		w.env.Vpc.PrivateSubnets[1].ID = "TODO"
		res := w.run("plan", "--env", "test", "--json")
		row := res.wantState(t, "private subnets", checks.Missing, "vpc.privateSubnets[1].id", subnetIDs[1]+" (us-east-1d", "NAT gateway nat-")
		if strings.Contains(row.Detail, "subnet-0aaaaaaaaaaaaaae9") {
			t.Errorf("public subnet offered: %s", row.Detail)
		}
		res.wantState(t, "subnet "+subnetIDs[0], checks.OK)
	})
	t.Run("subnet missing", func(t *testing.T) {
		w := newWorld(t)
		w.env.Vpc.PrivateSubnets[0].ID = "subnet-0ddddddddddddddd1"
		w.run("plan", "--env", "test", "--json").wantState(t, "subnet subnet-0ddddddddddddddd1", checks.Missing)
	})
	t.Run("subnet public", func(t *testing.T) {
		w := newWorld(t)
		w.env.Vpc.AvailabilityZones = append(w.env.Vpc.AvailabilityZones, "us-east-1e")
		w.env.Vpc.PrivateSubnets[0].ID, w.env.Vpc.PrivateSubnets[0].AvailabilityZone = "subnet-0aaaaaaaaaaaaaae9", "us-east-1e"
		w.run("plan", "--env", "test", "--json").wantState(t, "subnet subnet-0aaaaaaaaaaaaaae9", checks.Wrong, "public IP on launch", "internet gateway igw-")
	})
	t.Run("subnet without a way out, then endpoints only", func(t *testing.T) {
		w := newWorld(t)
		w.ec2.tables[0].Routes = w.ec2.tables[0].Routes[1:] // drop the NAT route
		w.run("plan", "--env", "test", "--json").wantState(t, "subnet "+subnetIDs[0], checks.Wrong, "has no way out", "ssmmessages")
		for _, svc := range checks.RunnerEndpoints {
			e := ec2types.VpcEndpoint{VpcId: new(testVpc), ServiceName: new("com.amazonaws.us-east-1." + svc), State: "available", PrivateDnsEnabled: new(true)}
			if svc == "s3" {
				e.VpcEndpointType, e.PrivateDnsEnabled, e.RouteTableIds = ec2types.VpcEndpointTypeGateway, nil, []string{"rtb-0aaaaaaaaaaaaaaa1"}
			}
			w.ec2.endpoints = append(w.ec2.endpoints, e)
		}
		w.run("plan", "--env", "test", "--json").wantState(t, "subnet "+subnetIDs[0], checks.OK, "VPC endpoints")
	})
	t.Run("subnet in another VPC or zone", func(t *testing.T) {
		w := newWorld(t)
		w.ec2.subnets = append(w.ec2.subnets, subnet("subnet-0bbbbbbbbbbbbbbb1", "us-east-1c", "vpc-0bbbbbbbbbbbbbbb2", false))
		w.env.Vpc.PrivateSubnets[0].ID = "subnet-0bbbbbbbbbbbbbbb1"
		w.env.Vpc.PrivateSubnets[1].AvailabilityZone = "us-east-1c"
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "subnet subnet-0bbbbbbbbbbbbbbb1", checks.Wrong, "not in the configured VPC")
		res.wantState(t, "subnet "+subnetIDs[1], checks.Wrong, "is in us-east-1d, config says us-east-1c")
	})
}

func TestAdminToken(t *testing.T) {
	t.Run("missing: apply creates it from stdin, once", func(t *testing.T) {
		w := newWorld(t)
		delete(w.sm.secrets, adminSecret)
		w.run("plan", "--env", "test", "--json").wantState(t, "admin token secret", checks.Missing)
		w.stdin = testAdminToken + "\n"
		w.run("apply", "--env", "test", "--json").wantState(t, "admin token secret", checks.OK, "created /synapse/admin-pat")
		if v := w.sm.secrets[adminSecret].value; v == nil || *v != testAdminToken {
			t.Fatalf("stored %v", v)
		}
		w.stdin = "FAKE-another-token-999999"
		w.run("apply", "--env", "test", "--json")
		if *w.sm.secrets[adminSecret].value != testAdminToken {
			t.Error("second apply replaced the token")
		}
	})
	t.Run("no value: apply puts it from --admin-token-file", func(t *testing.T) {
		w := newWorld(t)
		w.sm.secrets[adminSecret] = &fakeSecret{}
		w.tokenFile = filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(w.tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		w.run("apply", "--env", "test", "--json").wantState(t, "admin token secret", checks.OK, "stored the given token")
		if *w.sm.secrets[adminSecret].value != testAdminToken {
			t.Error("token not stored")
		}
	})
	t.Run("empty stdin: error row, nothing stored", func(t *testing.T) {
		w := newWorld(t)
		w.sm.secrets[adminSecret] = &fakeSecret{}
		res := w.run("apply", "--env", "test", "--json")
		res.wantState(t, "admin token secret", checks.Error, "no admin token given")
		if w.sm.secrets[adminSecret].value != nil || res.code != 1 {
			t.Errorf("exit %d, value %v", res.code, w.sm.secrets[adminSecret].value)
		}
	})
	t.Run("wrong: scheduled for deletion", func(t *testing.T) {
		w := newWorld(t)
		w.sm.secrets[adminSecret].deleted = true
		w.run("apply", "--env", "test", "--json").wantState(t, "admin token secret", checks.Wrong, "restore-secret")
	})
}

func TestCredentialSecret(t *testing.T) {
	for name, tc := range map[string]struct {
		value *string
		state checks.State
		want  string
	}{
		"missing":    {nil, checks.Missing, "no secret"},
		"malformed":  {new(`{"app_id": 1, "installation_id": 2, "private_key": "` + testPAT + `"`), checks.Wrong, "not a JSON object"},
		"empty":      {new("  "), checks.Wrong, "the secret is empty"},
		"wrong kind": {new(patSecret()), checks.Wrong, "config says app"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			if tc.value == nil {
				delete(w.sm.secrets, credSecret)
			} else {
				w.sm.secrets[credSecret].value = tc.value
			}
			res := w.run("plan", "--env", "test", "--json")
			res.wantState(t, "github credential secret", tc.state, tc.want)
			res.wantState(t, "github", checks.Error, "GitHub checks skipped")
			res.wantState(t, "cdk bootstrap", checks.OK) // the rest still ran
		})
	}
}

func TestGitHubApp(t *testing.T) {
	t.Run("wrong key", func(t *testing.T) {
		w := newWorld(t)
		other, _ := testKeyOther()
		w.sm.secrets[credSecret].value = new(appSecret(other))
		w.run("plan", "--env", "test", "--json").wantState(t, "github credential works", checks.Wrong, "app_id and private_key do not match")
	})
	t.Run("installation lacks administration write", func(t *testing.T) {
		w := newWorld(t)
		w.gh.perms["administration"] = "read"
		w.run("plan", "--env", "test", "--json").wantState(t, "github permissions", checks.Wrong, `Administration read/write (has "read")`)
	})
	t.Run("repository missing", func(t *testing.T) {
		w := newWorld(t)
		w.gh.repoExists = false
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "repository", checks.Missing)
		res.wantState(t, "runner group "+longGroup, checks.Error, "repository")
	})
	t.Run("repository public", func(t *testing.T) {
		w := newWorld(t)
		w.gh.repoPrivate = false
		w.run("plan", "--env", "test", "--json").wantState(t, "repository", checks.Wrong, "is public")
	})
}

func TestPATWithoutPermission(t *testing.T) {
	w := newWorld(t)
	w.env.GitHubCredential.Kind = "pat"
	w.sm.secrets[credSecret].value = new(patSecret())
	w.run("plan", "--env", "test", "--json").wantState(t, "github permissions", checks.OK, "read probes passed")
	w.gh.status["GET /repos/{owner}/{repo}/actions/runners"] = 403
	w.gh.status["GET /orgs/{org}/actions/runner-groups"] = 403
	res := w.run("plan", "--env", "test", "--json")
	res.wantState(t, "github permissions", checks.Wrong, "repository Administration", "answered 403", "administration=read", "organization Self-hosted runners")
	w.gh.status = map[string]int{"GET /user": 401}
	w.run("plan", "--env", "test", "--json").wantState(t, "github credential works", checks.Wrong, "rejected the personal access token")
}

func TestRunnerGroups(t *testing.T) {
	t.Run("missing: apply creates it for the repository only", func(t *testing.T) {
		w := newWorld(t)
		delete(w.gh.groups, longGroup)
		w.run("plan", "--env", "test", "--json").wantState(t, "runner group "+longGroup, checks.Missing)
		w.run("apply", "--env", "test", "--json").wantState(t, "runner group "+longGroup, checks.OK, "created runner group")
		if g := w.gh.groups[longGroup]; g == nil || g.visibility != "selected" || !slices.Equal(g.repos, []int64{testRepoID}) {
			t.Errorf("group %+v", g)
		}
	})
	t.Run("wrong: apply admits the repository", func(t *testing.T) {
		w := newWorld(t)
		w.gh.groups[longGroup].repos = []int64{99}
		w.run("plan", "--env", "test", "--json").wantState(t, "runner group "+longGroup, checks.Wrong, "does not admit")
		w.run("apply", "--env", "test", "--json").wantState(t, "runner group "+longGroup, checks.OK, "added example-org/ops-test")
	})
}

func TestVariables(t *testing.T) {
	t.Run("stack not deployed: one row says so", func(t *testing.T) {
		w := newWorld(t)
		delete(w.cfn.stacks, w.env.StackName())
		res := w.run("plan", "--env", "test", "--json")
		res.wantState(t, "stack outputs", checks.Missing, "not deployed yet", "npx cdk deploy --context env=test")
	})
	t.Run("missing and wrong: apply sets them", func(t *testing.T) {
		w := newWorld(t)
		delete(w.gh.variables, "CONTEXT")
		w.gh.variables["SYNAPSE_HOST"] = "https://old.example.org"
		plan := w.run("plan", "--env", "test", "--json")
		plan.wantState(t, "variable CONTEXT", checks.Missing)
		plan.wantState(t, "variable SYNAPSE_HOST", checks.Wrong, `"https://old.example.org"`)
		apply := w.run("apply", "--env", "test", "--json")
		apply.wantState(t, "variable CONTEXT", checks.OK, "created CONTEXT")
		apply.wantState(t, "variable SYNAPSE_HOST", checks.OK, "updated SYNAPSE_HOST")
		if w.gh.variables["SYNAPSE_HOST"] != "https://repo-test.example.org" || w.gh.variables["CONTEXT"] != "test" || apply.code != 0 {
			t.Errorf("exit %d, variables %v", apply.code, w.gh.variables)
		}
	})
}

// TestApplyIdempotent breaks everything apply can fix, applies twice, and
// checks the second run changes nothing.
func TestApplyIdempotent(t *testing.T) {
	w := newWorld(t)
	w.env.GitHubOidc.CreateProvider, w.env.GitHubOidc.ProviderArn = true, ""
	delete(w.iam.providers, checks.OidcProviderArn(w.env))
	delete(w.ssm.params, "/cdk-bootstrap/hnb659fds/version")
	delete(w.cfn.stacks, "cdk-bootstrap-default")
	w.commands.onRun = func([]string) {
		w.ssm.params["/cdk-bootstrap/hnb659fds/version"] = "30"
		w.cfn.stacks["cdk-bootstrap-default"] = cfntypes.Stack{StackStatus: cfntypes.StackStatusCreateComplete}
	}
	// The stack is deployed (the variables come from its outputs), so the admin
	// token is the empty one it created, already behind its policy.
	w.env.AdminToken.Create = true
	w.sm.secrets[adminSecret] = &fakeSecret{}
	w.protect(adminSecret, runnerRole, breakGlassRole)
	delete(w.gh.groups, longGroup)
	w.gh.variables = map[string]string{"CONTEXT": "prod"}
	w.stdin = testAdminToken

	first := w.run("apply", "--env", "test", "--json")
	// cdk bootstrap, admin token, runner group, and every repository variable.
	if wantChanged := 3 + len(config.RepositoryVariables); first.code != 0 || len(checks.Changed(first.report.Rows)) != wantChanged {
		t.Fatalf("first apply: exit %d, changed %v\n%s", first.code, checks.Changed(first.report.Rows), first.stdout)
	}
	awsWrites, ghWrites, runs := len(w.sw.writes), len(w.gh.writes), len(w.commands.runs)
	second := w.run("apply", "--env", "test", "--json")
	if second.code != 0 || len(checks.Changed(second.report.Rows)) != 0 {
		t.Fatalf("second apply: exit %d, changed %v", second.code, checks.Changed(second.report.Rows))
	}
	if len(w.sw.writes) != awsWrites || len(w.gh.writes) != ghWrites || len(w.commands.runs) != runs {
		t.Errorf("second apply wrote: aws %v github %v commands %v", w.sw.writes[awsWrites:], w.gh.writes[ghWrites:], w.commands.runs[runs:])
	}
	tab := w.run("apply", "--env", "test")
	if !strings.Contains(tab.stdout, "ACTION") || !strings.Contains(tab.stdout, "0 changed") {
		t.Errorf("apply table:\n%s", tab.stdout)
	}
}

func TestCouldNotRun(t *testing.T) {
	cases := map[string]struct {
		setup func(w *world)
		args  []string
		want  string
	}{
		"wrong account": {func(w *world) { w.sts.account = "222222222222" }, nil, "refusing to run: wrong AWS account: the credentials are for account 222222222222 but environment test is account 111111111111"},
		"no credentials": {func(w *world) {
			w.sw.errs["GetCallerIdentity"] = errors.New("failed to retrieve credentials: no EC2 IMDS role found")
		}, nil, "no usable AWS credentials for test"},
		"unknown env":  {func(*world) {}, []string{"--env", "staging"}, `"staging" is not a configured environment`},
		"unknown mode": {func(*world) {}, []string{"destroy"}, `unknown mode "destroy"`},
		"bad config":   {func(w *world) { w.env.Account = "12" }, nil, "bad config: test: account:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w)
			args := tc.args
			if args == nil {
				args = []string{"plan", "--env", "test", "--json"}
			}
			res := w.run(args...)
			if res.code != 2 || res.stdout != "" {
				t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
			}
			if strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 || !strings.Contains(res.stderr, tc.want) || strings.Contains(res.stderr, "goroutine") {
				t.Errorf("stderr %q, want one line with %q", res.stderr, tc.want)
			}
			if len(w.sw.writes) != 0 || len(w.commands.runs) != 0 {
				t.Errorf("changed things: %v %v", w.sw.writes, w.commands.runs)
			}
		})
	}
}

func TestOneFailingCallDoesNotStopTheOthers(t *testing.T) {
	for name, tc := range map[string]struct {
		op, row, want string
		err           error
		stackPolicy   bool
	}{
		"access denied on ssm": {"GetParameter", "cdk bootstrap", "access denied calling ssm:GetParameter", errDenied, true},
		"throttled ec2":        {"DescribeSubnets", "private subnets", "throttled after retries", errThrottled, true},
		// Without the stack's policy a denied read is an error, as before the deploy.
		"denied secret, no stack policy": {"GetSecretValue", "github credential secret", "access denied", errDenied, false},
		"denied policy read":             {"GetResourcePolicy", "github credential policy", "access denied calling secretsmanager:GetResourcePolicy", errDenied, true},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			if !tc.stackPolicy {
				w.unprotect(credSecret)
			}
			w.sw.errs[tc.op] = tc.err
			res := w.run("apply", "--env", "test", "--json")
			res.wantState(t, tc.row, checks.Error, tc.want)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			ok := 0
			for _, r := range res.report.Rows {
				if r.State == checks.OK {
					ok++
				}
			}
			if ok < 5 {
				t.Errorf("only %d ok rows: the other checks did not run\n%s", ok, res.stdout)
			}
		})
	}
}
