package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/bootstrap/checks"
	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/golang-jwt/jwt/v4"
)

// Obviously fake values; the secret-scan test fails if any of them is printed.
const (
	testAccount      = "111111111111"
	testVpc          = "vpc-0aaaaaaaaaaaaaaa1"
	testRepo         = "example-org/ops-test"
	testRepoID       = 4242
	testAdminToken   = "FAKE-synapse-admin-token-0123456789"
	testPAT          = "FAKE-personal-token-abcdefghijkl"
	testInstallToken = "FAKE-installation-token-zyxwvut"
	testAppID        = 1001
	testInstallID    = 2002
	adminSecret      = "/synapse/admin-pat"
	credSecret       = "/synapse-ops-runners/test/github"
	longGroup        = "synapse-ops"
	// The stack's fixed-name roles, and the break-glass admin the tests run as.
	controllerRole = "arn:aws:iam::" + testAccount + ":role/synapse-ops-runners-test-controller"
	runnerRole     = "arn:aws:iam::" + testAccount + ":role/synapse-ops-runners-test-runner"
	breakGlassRole = "arn:aws:iam::" + testAccount + ":role/ops-break-glass"
	operatorRole   = "arn:aws:iam::" + testAccount + ":role/ops-operator"
)

var fixedTime = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)

var subnetIDs = []string{"subnet-0aaaaaaaaaaaaaac1", "subnet-0aaaaaaaaaaaaaad1"}

// testKey is generated once per test run: no PEM is committed.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemOf(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func appSecret(k *rsa.PrivateKey) string {
	b, _ := json.Marshal(map[string]any{"app_id": testAppID, "installation_id": testInstallID, "private_key": pemOf(k)})
	return string(b)
}

func patSecret() string { return `{"token": "` + testPAT + `"}` }

// fakeGitHub is an httptest GitHub with just the endpoints the bootstrap calls.
type fakeGitHub struct {
	mu          sync.Mutex
	srv         *httptest.Server
	key         *rsa.PublicKey
	perms       map[string]string
	repoExists  bool
	repoPrivate bool
	groups      map[string]*fakeGroup
	variables   map[string]string
	// status forces an answer ("GET /repos/{owner}/{repo}/actions/runners" -> 403).
	status map[string]int
	writes []string
	// requests counts every request, to prove skipped checks called nothing.
	requests int
}

type fakeGroup struct {
	id         int64
	visibility string
	repos      []int64
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{
		key:         &testKey().PublicKey,
		perms:       map[string]string{"administration": "write", "organization_self_hosted_runners": "write", "metadata": "read"},
		repoExists:  true,
		repoPrivate: true,
		groups:      map[string]*fakeGroup{longGroup: {id: 7, visibility: "selected", repos: []int64{testRepoID}}},
		variables:   map[string]string{},
		status:      map[string]int{},
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.requests++
			if code := g.status[pattern]; code != 0 {
				if code == http.StatusForbidden {
					w.Header().Set("X-Accepted-GitHub-Permissions", "administration=read")
				}
				writeJSON(w, code, map[string]string{"message": http.StatusText(code)})
				return
			}
			if !strings.HasPrefix(pattern, "POST /app/") && r.Header.Get("Authorization") != "Bearer "+testPAT && r.Header.Get("Authorization") != "token "+testInstallToken {
				writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
				return
			}
			h(w, r)
		})
	}
	handle("POST /app/installations/{id}/access_tokens", func(w http.ResponseWriter, r *http.Request) {
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return g.key, nil }); err != nil {
			writeJSON(w, 401, map[string]string{"message": "A JSON web token could not be decoded"})
			return
		}
		if r.PathValue("id") != strconv.Itoa(testInstallID) {
			writeJSON(w, 404, map[string]string{"message": "Not Found"})
			return
		}
		writeJSON(w, 201, map[string]any{"token": testInstallToken, "expires_at": time.Now().Add(time.Hour), "permissions": g.perms})
	})
	handle("GET /user", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"login": "ops-bot"}) })
	handle("GET /repos/{owner}/{repo}", func(w http.ResponseWriter, r *http.Request) {
		if !g.repoExists || r.PathValue("owner")+"/"+r.PathValue("repo") != testRepo {
			writeJSON(w, 404, map[string]string{"message": "Not Found"})
			return
		}
		writeJSON(w, 200, map[string]any{"id": testRepoID, "full_name": testRepo, "private": g.repoPrivate})
	})
	handle("GET /repos/{owner}/{repo}/actions/runners", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"total_count": 0, "runners": []any{}})
	})
	handle("GET /orgs/{org}/actions/runner-groups", func(w http.ResponseWriter, r *http.Request) {
		var list []map[string]any
		for name, gr := range g.groups {
			list = append(list, map[string]any{"id": gr.id, "name": name, "visibility": gr.visibility})
		}
		writeJSON(w, 200, map[string]any{"total_count": len(list), "runner_groups": list})
	})
	handle("GET /orgs/{org}/actions/runner-groups/{id}/repositories", func(w http.ResponseWriter, r *http.Request) {
		var repos []map[string]any
		for _, gr := range g.groups {
			if strconv.FormatInt(gr.id, 10) == r.PathValue("id") {
				for _, id := range gr.repos {
					repos = append(repos, map[string]any{"id": id})
				}
			}
		}
		writeJSON(w, 200, map[string]any{"total_count": len(repos), "repositories": repos})
	})
	handle("POST /orgs/{org}/actions/runner-groups", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name       string  `json:"name"`
			Visibility string  `json:"visibility"`
			Repos      []int64 `json:"selected_repository_ids"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
			return
		}
		g.writes = append(g.writes, "create group "+req.Name)
		g.groups[req.Name] = &fakeGroup{id: int64(100 + len(g.groups)), visibility: req.Visibility, repos: req.Repos}
		writeJSON(w, 201, map[string]any{"id": g.groups[req.Name].id, "name": req.Name})
	})
	handle("PUT /orgs/{org}/actions/runner-groups/{id}/repositories/{repo}", func(w http.ResponseWriter, r *http.Request) {
		for _, gr := range g.groups {
			if strconv.FormatInt(gr.id, 10) == r.PathValue("id") {
				id, _ := strconv.ParseInt(r.PathValue("repo"), 10, 64)
				gr.repos = append(gr.repos, id)
			}
		}
		g.writes = append(g.writes, "add repo to group")
		w.WriteHeader(204)
	})
	handle("GET /repos/{owner}/{repo}/actions/variables/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := g.variables[r.PathValue("name")]
		if !ok {
			writeJSON(w, 404, map[string]string{"message": "Not Found"})
			return
		}
		writeJSON(w, 200, map[string]any{"name": r.PathValue("name"), "value": v})
	})
	setVar := func(w http.ResponseWriter, r *http.Request) {
		var v struct{ Name, Value string }
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
			return
		}
		if v.Name == "" {
			v.Name = r.PathValue("name")
		}
		g.writes = append(g.writes, r.Method+" variable "+v.Name)
		g.variables[v.Name] = v.Value
		w.WriteHeader(201)
	}
	handle("POST /repos/{owner}/{repo}/actions/variables", setVar)
	handle("PATCH /repos/{owner}/{repo}/actions/variables/{name}", setVar)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status is sent; a failed body write shows up as a decode error in the client under test.
	_ = json.NewEncoder(w).Encode(v)
}

// world is a whole account plus GitHub, everything ok unless a test breaks it.
type world struct {
	t        *testing.T
	env      config.Environment
	sw       *errSwitch
	sts      *fakeSTS
	ssm      *fakeSSM
	cfn      *fakeCFN
	iam      *fakeIAM
	ec2      *fakeEC2
	sm       *fakeSM
	gh       *fakeGitHub
	commands *fakeCommands
	stdin    string
	// tokenFile, when set, is passed as --admin-token-file.
	tokenFile string
}

func testEnv() config.Environment {
	return config.Environment{
		Name: "test", Account: testAccount, Region: "us-east-1",
		Vpc: config.Vpc{ID: testVpc, AvailabilityZones: []string{"us-east-1c", "us-east-1d"},
			PrivateSubnets: []config.Subnet{{ID: subnetIDs[0], AvailabilityZone: "us-east-1c"}, {ID: subnetIDs[1], AvailabilityZone: "us-east-1d"}}},
		Repository: testRepo, SynapseHost: "https://repo-test.example.org",
		DeploymentRoleArn: "arn:aws:iam::" + testAccount + ":role/synapse-deployment",
		GitHubOidc:        config.GitHubOidc{Subjects: []string{"ref:refs/heads/main"}},
		GitHubCredential:  config.GitHubCredential{Kind: "app", AdminPrincipalArns: []string{breakGlassRole}},
		AdminToken:        config.AdminToken{AdminPrincipalArns: []string{breakGlassRole}},
		Runner:            config.Runner{MinimumVersion: "2.335.1", MinimumSHA256: strings.Repeat("ab", 32)},
		Budget:            config.Budget{MonthlyUsd: 300},
		Pools: []config.Pool{
			{Name: "default", InstanceTypes: []string{"m7g.large"}, Spot: true, Max: 4},
			{Name: "long", Kind: "long", InstanceTypes: []string{"m7g.large"}, Max: 2, RunnerGroup: longGroup},
		},
		Admission: config.Admission{
			Workflows:    []string{testRepo + "/.github/workflows/run-task.yml@refs/heads/main"},
			Events:       []string{"workflow_dispatch"},
			Branches:     []string{"main"},
			Repositories: []string{testRepo},
		},
		Tags: map[string]string{"CostCenter": "Platform Infrastructure / 990300", "OwnerEmail": "ops@example.org"},
	}
}

// stackOutputs are the deployed stack's outputs; every output a repository
// variable reads must be here (TestStackOutputsCoverVariables).
func stackOutputs(env config.Environment) []cfntypes.Output {
	vals := map[string]string{
		config.OutputContext: env.Name, config.OutputRoleToAssume: "arn:aws:iam::" + testAccount + ":role/ops-test-deploy",
		config.OutputSynapseHost: env.SynapseHost, config.OutputDeploymentRole: env.DeploymentRoleArn,
		config.OutputAdminTokenSecret: env.AdminToken.SecretName,
	}
	var out []cfntypes.Output
	for k, v := range vals {
		out = append(out, cfntypes.Output{OutputKey: new(k), OutputValue: new(v)})
	}
	return out
}

func newWorld(t *testing.T) *world {
	env := testEnv().WithDefaults()
	sw := &errSwitch{errs: map[string]error{}}
	w := &world{t: t, env: env, sw: sw,
		sts: &fakeSTS{errSwitch: sw, account: testAccount},
		ssm: &fakeSSM{errSwitch: sw, params: map[string]string{"/cdk-bootstrap/hnb659fds/version": "21"}},
		cfn: &fakeCFN{errSwitch: sw, stacks: map[string]cfntypes.Stack{
			"cdk-bootstrap-default": {StackName: new("cdk-bootstrap-default"), StackStatus: cfntypes.StackStatusUpdateComplete},
			env.StackName():         {StackName: new(env.StackName()), StackStatus: cfntypes.StackStatusCreateComplete, Outputs: stackOutputs(env)},
		}},
		iam: &fakeIAM{errSwitch: sw, account: testAccount, providers: map[string][]string{
			checks.OidcProviderArn(env): {"sts.amazonaws.com"}}},
		ec2: &fakeEC2{errSwitch: sw},
		sm: &fakeSM{errSwitch: sw, caller: breakGlassRole, secrets: map[string]*fakeSecret{
			adminSecret: {value: new(testAdminToken)},
			credSecret:  {value: new(appSecret(testKey()))},
		}},
		gh:       newFakeGitHub(t),
		commands: &fakeCommands{},
	}
	// The stack is deployed: both secrets carry its policy.
	w.protect(adminSecret, runnerRole, breakGlassRole)
	w.protect(credSecret, controllerRole, breakGlassRole)
	for _, o := range stackOutputs(env) {
		for name, out := range config.RepositoryVariables {
			if out == *o.OutputKey {
				w.gh.variables[name] = *o.OutputValue
			}
		}
	}
	w.ec2.vpcs = []ec2types.Vpc{
		{VpcId: new(testVpc), CidrBlock: new("10.11.0.0/16"), Tags: []ec2types.Tag{{Key: new("Name"), Value: new("sagevpc")}}},
		{VpcId: new("vpc-0bbbbbbbbbbbbbbb2"), CidrBlock: new("10.30.0.0/16")},
	}
	// Two private subnets with a NAT route, one public subnet, all in testVpc.
	w.ec2.subnets = []ec2types.Subnet{
		subnet(subnetIDs[0], "us-east-1c", testVpc, false),
		subnet(subnetIDs[1], "us-east-1d", testVpc, false),
		subnet("subnet-0aaaaaaaaaaaaaae9", "us-east-1e", testVpc, true),
	}
	w.ec2.tables = []ec2types.RouteTable{
		routeTable("rtb-0aaaaaaaaaaaaaaa1", testVpc, []string{subnetIDs[0], subnetIDs[1]}, false, ec2types.Route{DestinationCidrBlock: new("0.0.0.0/0"), NatGatewayId: new("nat-0aaaaaaaaaaaaaaa1"), State: ec2types.RouteStateActive}),
		routeTable("rtb-0aaaaaaaaaaaaaaa9", testVpc, nil, true, ec2types.Route{DestinationCidrBlock: new("0.0.0.0/0"), GatewayId: new("igw-0aaaaaaaaaaaaaaa1"), State: ec2types.RouteStateActive}),
	}
	return w
}

func subnet(id, az, vpc string, public bool) ec2types.Subnet {
	return ec2types.Subnet{SubnetId: new(id), AvailabilityZone: new(az), VpcId: new(vpc), MapPublicIpOnLaunch: new(public)}
}

func routeTable(id, vpc string, subnets []string, main bool, routes ...ec2types.Route) ec2types.RouteTable {
	rt := ec2types.RouteTable{RouteTableId: new(id), VpcId: new(vpc), Routes: routes}
	for _, s := range subnets {
		rt.Associations = append(rt.Associations, ec2types.RouteTableAssociation{SubnetId: new(s)})
	}
	if main {
		rt.Associations = append(rt.Associations, ec2types.RouteTableAssociation{Main: new(true)})
	}
	rt.Routes = append(rt.Routes, ec2types.Route{DestinationCidrBlock: new("10.11.0.0/16"), GatewayId: new("local"), State: ec2types.RouteStateActive})
	return rt
}

func (w *world) deps() Deps {
	return Deps{
		AWS: func(context.Context, string) (checks.AWS, error) {
			return checks.AWS{STS: w.sts, SSM: w.ssm, CloudFormation: w.cfn, IAM: w.iam, EC2: w.ec2, SecretsManager: w.sm}, nil
		},
		GitHub:   checks.GitHubOptions{APIURL: w.gh.srv.URL + "/", HTTPClient: w.gh.srv.Client()},
		Commands: w.commands,
	}
}

// result is one captured run.
type result struct {
	code           int
	stdout, stderr string
	report         checks.Report
}

// allOutput collects everything every run printed, for the secret scan.
var allOutput struct {
	sync.Mutex
	bytes.Buffer
}

func (w *world) run(args ...string) result {
	w.t.Helper()
	dir := w.t.TempDir()
	data, err := json.Marshal(w.env)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, w.env.Name+".json"), data, 0o600); err != nil {
		w.t.Fatal(err)
	}
	args = append(args, "--config-dir", dir)
	if w.tokenFile != "" {
		args = append(args, "--admin-token-file", w.tokenFile)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(w.stdin), &out, &errb, w.deps())
	allOutput.Lock()
	fmt.Fprintf(&allOutput.Buffer, "%s\n%s\n", out.String(), errb.String())
	allOutput.Unlock()
	res := result{code: code, stdout: out.String(), stderr: errb.String()}
	if strings.Contains(strings.Join(args, " "), "--json") && code != 2 {
		if err := json.Unmarshal(out.Bytes(), &res.report); err != nil {
			w.t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
		}
	}
	return res
}

// row returns the named row, failing the test if it is absent.
func (r result) row(t *testing.T, check string) checks.Row {
	t.Helper()
	for _, row := range r.report.Rows {
		if row.Check == check {
			return row
		}
	}
	t.Fatalf("no row %q in:\n%s", check, r.stdout)
	return checks.Row{}
}

func (r result) wantState(t *testing.T, check string, want checks.State, detailContains ...string) checks.Row {
	t.Helper()
	row := r.row(t, check)
	if row.State != want {
		t.Fatalf("row %q: state %s, want %s (detail %q, fix %q)", check, row.State, want, row.Detail, row.Fix)
	}
	for _, s := range detailContains {
		if !strings.Contains(row.Detail+" | "+row.Fix+" | "+row.Action, s) {
			t.Errorf("row %q: %q does not mention %q", check, row.Detail+" | "+row.Fix+" | "+row.Action, s)
		}
	}
	return row
}

func testKeyOther() (*rsa.PrivateKey, error) { return otherKey(), nil }

var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// stackPolicy is a resource policy as the stack's secretpolicy construct
// renders it and Secrets Manager returns it: a Deny of GetSecretValue to any
// principal whose aws:PrincipalArn is not one of readers.
func stackPolicy(sid string, readers ...string) string {
	b, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid": sid, "Effect": "Deny", "Principal": map[string]any{"AWS": "*"},
			"Action": "secretsmanager:GetSecretValue", "Resource": "*",
			"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:PrincipalArn": readers}},
		}},
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// protect attaches the stack's policy to a secret, and makes the fake enforce it.
func (w *world) protect(name string, readers ...string) {
	s := w.sm.secrets[name]
	s.policy, s.readers = new(stackPolicy("OnlyNamedPrincipalsReadTheValue", readers...)), readers
}

// unprotect removes a secret's resource policy, as before the stack's deploy.
func (w *world) unprotect(name string) {
	s := w.sm.secrets[name]
	s.policy, s.readers = nil, nil
}
