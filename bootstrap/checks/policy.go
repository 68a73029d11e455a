package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// The stack attaches a resource policy to both secrets that denies
// secretsmanager:GetSecretValue to every principal whose aws:PrincipalArn is
// not one of a few named readers (the controller role for the GitHub
// credential, the runner role for the admin token, plus break-glass admins).
// After a deploy an operator outside that list is denied the GitHub
// credential by design, so the bootstrap reads the policy to tell "denied by
// the stack's own policy" from "denied for some other reason".

const (
	checkAdminTokenPolicy = "admin token policy"
	checkCredPolicy       = "github credential policy"
)

// readPolicy is what a secret's resource policy says about reading its value.
type readPolicy struct {
	// Readers are the principal ARNs exempted from the deny, in policy order.
	Readers []string
	// Sid is the deny statement's id, for messages.
	Sid string
}

// parseReadPolicy finds the deny-all-but-readers statement in a resource
// policy document: Effect Deny, every principal, an action covering
// secretsmanager:GetSecretValue, and a single StringNotEquals (or
// ArnNotEquals) condition on aws:PrincipalArn. A statement with any further
// condition does not count: conditions are ANDed, so it would deny less. It
// returns nil when the document has no such statement.
func parseReadPolicy(doc string) (*readPolicy, error) {
	var p struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("the resource policy is not a JSON policy document: %w", err)
	}
	var stmts []policyStatement
	if len(p.Statement) > 0 && p.Statement[0] == '{' {
		var one policyStatement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return nil, fmt.Errorf("the resource policy's statement is malformed: %w", err)
		}
		stmts = []policyStatement{one}
	} else if len(p.Statement) > 0 {
		if err := json.Unmarshal(p.Statement, &stmts); err != nil {
			return nil, fmt.Errorf("the resource policy's statements are malformed: %w", err)
		}
	}
	for _, s := range stmts {
		if readers, ok := s.deniesAllBut(); ok {
			return &readPolicy{Readers: readers, Sid: s.Sid}, nil
		}
	}
	return nil, nil
}

type policyStatement struct {
	Sid          string                           `json:"Sid"`
	Effect       string                           `json:"Effect"`
	Principal    json.RawMessage                  `json:"Principal"`
	NotPrincipal json.RawMessage                  `json:"NotPrincipal"`
	Action       stringList                       `json:"Action"`
	NotAction    stringList                       `json:"NotAction"`
	Condition    map[string]map[string]stringList `json:"Condition"`
}

func (s policyStatement) deniesAllBut() ([]string, bool) {
	if !strings.EqualFold(s.Effect, "Deny") || len(s.NotPrincipal) > 0 || len(s.NotAction) > 0 || !everyone(s.Principal) {
		return nil, false
	}
	if !slices.ContainsFunc(s.Action, func(a string) bool {
		ok, _ := path.Match(strings.ToLower(a), "secretsmanager:getsecretvalue")
		return ok
	}) {
		return nil, false
	}
	if len(s.Condition) != 1 {
		return nil, false
	}
	for op, keys := range s.Condition {
		if !strings.EqualFold(op, "StringNotEquals") && !strings.EqualFold(op, "ArnNotEquals") {
			return nil, false
		}
		if len(keys) != 1 {
			return nil, false
		}
		for key, values := range keys {
			if !strings.EqualFold(key, "aws:PrincipalArn") || len(values) == 0 {
				return nil, false
			}
			return values, true
		}
	}
	return nil, false
}

// everyone reports whether a Principal element is "*" or {"AWS": "*"}.
func everyone(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]stringList
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	return slices.Contains(m["AWS"], "*")
}

// stringList is a policy value that may be one string or a list of them.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// partition is the ARN partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// stackRoleArn is the ARN of one of the stack's fixed-name roles
// ("controller", "runner"); the stack names them so policies can name them.
func stackRoleArn(env config.Environment, role string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s-%s", partition(env.Region), env.Account, env.ResourcePrefix(), role)
}

// policyOf returns a secret's resource policy document (nil when it has
// none), asking AWS once per secret and run.
func (r *runner) policyOf(ctx context.Context, name string) (*string, error) {
	if got, ok := r.policies[name]; ok {
		return got.doc, got.err
	}
	var res policyResult
	out, err := r.in.AWS.SecretsManager.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: &name})
	if err != nil {
		res.err = err
	} else if out.ResourcePolicy != nil && strings.TrimSpace(*out.ResourcePolicy) != "" {
		res.doc = out.ResourcePolicy
	}
	if r.policies == nil {
		r.policies = map[string]policyResult{}
	}
	r.policies[name] = res
	return res.doc, res.err
}

type policyResult struct {
	doc *string
	err error
}

// runnerStack returns the environment's deployed stack (nil before the first
// deploy), described once per run.
func (r *runner) runnerStack(ctx context.Context) (*cfntypes.Stack, error) {
	if !r.stackRead {
		r.stack, r.stackErr = describeStack(ctx, r.in.AWS.CloudFormation, r.in.Env.StackName())
		r.stackRead = true
	}
	return r.stack, r.stackErr
}

// breakGlass counts principals as "break-glass" for messages.
func breakGlass(n int) string {
	if n == 1 {
		return "1 break-glass principal"
	}
	return fmt.Sprintf("%d break-glass principals", n)
}

// checkSecretPolicy reports whether a deployed stack's policy protects the
// secret: before the first deploy there is nothing to check; after it, a
// secret without the policy is readable by anyone whose identity policy
// allows GetSecretValue, which for the GitHub credential includes the runners'
// neighbours in the account.
func (r *runner) checkSecretPolicy(ctx context.Context, check, secretRow, name, role string, admins []string, adminField string) Row {
	env := r.in.Env
	stack, err := r.runnerStack(ctx)
	if err != nil {
		return errorRow(check, "cloudformation:DescribeStacks "+env.StackName(), err)
	}
	if stack == nil {
		return Row{Check: check, State: Skipped,
			Detail: fmt.Sprintf("stack %s is not deployed yet; its first deploy attaches the policy that lets only %s and %s read %s", env.StackName(), role, adminField, name)}
	}
	doc, err := r.policyOf(ctx, name)
	if err != nil {
		if Classify(err) == KindNotFound {
			return Row{Check: check, State: Missing, Detail: "no secret " + name + ", so no resource policy",
				Fix: "create the secret (see the " + secretRow + " row), then deploy the stack (it attaches the policy)"}
		}
		return errorRow(check, "secretsmanager:GetResourcePolicy "+name, err)
	}
	deploy := "deploy the stack (it attaches the policy): npx cdk deploy --context env=" + env.Name
	if doc == nil {
		return Row{Check: check, State: Wrong,
			Detail: fmt.Sprintf("%s has no resource policy: any principal in the account whose IAM policy allows secretsmanager:GetSecretValue can read it", name),
			Fix:    deploy}
	}
	pol, err := parseReadPolicy(*doc)
	if err != nil {
		return Row{Check: check, State: Wrong, Detail: name + ": " + err.Error(), Fix: deploy}
	}
	if pol == nil {
		return Row{Check: check, State: Wrong,
			Detail: fmt.Sprintf("%s has a resource policy, but it does not deny secretsmanager:GetSecretValue to every principal except %s", name, role),
			Fix:    deploy}
	}
	if !slices.Contains(pol.Readers, role) {
		return Row{Check: check, State: Wrong,
			Detail: fmt.Sprintf("%s's resource policy (statement %q) denies %s, which must read it", name, pol.Sid, role),
			Fix:    deploy}
	}
	want := append([]string{role}, admins...)
	var extra, lacking []string
	for _, p := range pol.Readers {
		if !slices.Contains(want, p) {
			extra = append(extra, p)
		}
	}
	for _, p := range want {
		if !slices.Contains(pol.Readers, p) {
			lacking = append(lacking, p)
		}
	}
	if len(extra)+len(lacking) > 0 {
		var parts []string
		if len(extra) > 0 {
			parts = append(parts, "lets "+strings.Join(extra, ", ")+" read it, which "+adminField+" does not list")
		}
		if len(lacking) > 0 {
			parts = append(parts, "denies "+strings.Join(lacking, ", ")+", which "+adminField+" lists")
		}
		return Row{Check: check, State: Wrong,
			Detail: fmt.Sprintf("%s's resource policy %s: the deployed stack is older than the config", name, strings.Join(parts, " and ")),
			Fix:    "deploy the stack (it updates the policy to the config's list): npx cdk deploy --context env=" + env.Name}
	}
	return Row{Check: check, State: OK,
		Detail: fmt.Sprintf("%s is readable only by %s and %s (resource policy)", name, role, breakGlass(len(pol.Readers)-1))}
}

// adminTokenPolicy: only this environment's runner role and the break-glass
// admins may read the Synapse admin token.
func (r *runner) adminTokenPolicy(ctx context.Context) {
	env := r.in.Env
	r.add(r.checkSecretPolicy(ctx, checkAdminTokenPolicy, checkAdminToken, env.AdminToken.SecretName,
		stackRoleArn(env, "runner"), env.AdminToken.AdminPrincipalArns, "adminToken.adminPrincipalArns"))
}

// credentialPolicy: only the controller and the break-glass admins may read the
// GitHub credential, never the runners (design, security rules).
func (r *runner) credentialPolicy(ctx context.Context) {
	env := r.in.Env
	r.add(r.checkSecretPolicy(ctx, checkCredPolicy, checkCredSecret, env.GitHubCredential.SecretName,
		stackRoleArn(env, "controller"), env.GitHubCredential.AdminPrincipalArns, "githubCredential.adminPrincipalArns"))
}
