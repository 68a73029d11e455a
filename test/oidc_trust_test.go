package test

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/githuboidc"
)

// This file evaluates the synthesized trust policies the way STS does for
// AssumeRoleWithWebIdentity, against the OIDC claims that a contributor can make
// GitHub produce, instead of searching the template's text: a policy that reads
// right but matches too much (a StringLike, a second statement, a missing
// condition) fails here.

// claims are the OIDC token claims a trust condition can test, keyed by the
// condition key STS exposes (token.actions.githubusercontent.com:sub, ...).
type claims map[string]string

// githubClaims is the token of a job in repository repo whose sub suffix is
// suffix (environment:prod, ref:refs/heads/main, pull_request, ...).
func githubClaims(repo, suffix string) claims {
	return claims{
		githuboidc.Issuer + ":sub": githuboidc.Subject(repo, suffix),
		githuboidc.Issuer + ":aud": githuboidc.Audience,
	}
}

// trustAllows reports whether a role's trust policy lets a web identity token
// of GitHub's provider with these claims assume the role: some Allow statement
// for sts:AssumeRoleWithWebIdentity whose federated principal is GitHub's
// provider and whose every condition holds, and no Deny statement that
// matches. An operator it does not know makes it fail the test rather than
// guess.
func trustAllows(t testing.TB, policy map[string]any, c claims) bool {
	t.Helper()
	allowed := false
	for _, st := range asList(policy["Statement"]) {
		stm := st.(map[string]any)
		if !statementAppliesToGitHub(t, stm) {
			continue
		}
		if !conditionsHold(t, stm["Condition"], c) {
			continue
		}
		switch stm["Effect"] {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func statementAppliesToGitHub(t testing.TB, stm map[string]any) bool {
	t.Helper()
	principal, _ := stm["Principal"].(map[string]any)
	if principal == nil {
		// "Principal": "*" or a NotPrincipal: a trust no test here expects.
		t.Errorf("trust statement without a principal map: %s", jsonString(t, stm))
		return true
	}
	fed, ok := principal["Federated"]
	if !ok || !strings.Contains(jsonString(t, fed), githuboidc.Issuer) {
		return false
	}
	for _, a := range asList(stm["Action"]) {
		if ok, _ := path.Match(strings.ToLower(fmt.Sprint(a)), "sts:assumerolewithwebidentity"); ok {
			return true
		}
	}
	return false
}

// conditionsHold applies IAM's rules: every operator of the block holds, every
// key of an operator holds, a key holds when the request's value matches any of
// the listed values, and a key missing from the request fails (no ...IfExists
// operator is accepted). Condition keys are case-insensitive, values are not.
func conditionsHold(t testing.TB, cond any, c claims) bool {
	t.Helper()
	if cond == nil {
		return true
	}
	lower := map[string]string{}
	for k, v := range c {
		lower[strings.ToLower(k)] = v
	}
	for op, keys := range cond.(map[string]any) {
		var match func(pattern, value string) bool
		switch op {
		case "StringEquals":
			match = func(p, v string) bool { return p == v }
		case "StringLike":
			match = iamLike
		default:
			t.Errorf("condition operator %s is not evaluated by this test; refuse it or teach the test", op)
			return false
		}
		for key, want := range keys.(map[string]any) {
			got, present := lower[strings.ToLower(key)]
			if !present {
				return false
			}
			var any bool
			for _, w := range asList(want) {
				if match(fmt.Sprint(w), got) {
					any = true
				}
			}
			if !any {
				return false
			}
		}
	}
	return true
}

// iamLike is StringLike: * matches any run of characters (: and / included) and
// ? one character; everything else is literal and case-sensitive.
func iamLike(pattern, value string) bool {
	if pattern == "" {
		return value == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(value); i++ {
			if iamLike(pattern[1:], value[i:]) {
				return true
			}
		}
		return false
	case '?':
		return value != "" && iamLike(pattern[1:], value[1:])
	default:
		return value != "" && value[0] == pattern[0] && iamLike(pattern[1:], value[1:])
	}
}

func TestTrustEvaluator(t *testing.T) {
	sub := githuboidc.Issuer + ":sub"
	aud := githuboidc.Issuer + ":aud"
	stmt := func(effect string, cond map[string]any) map[string]any {
		return map[string]any{
			"Effect":    effect,
			"Action":    "sts:AssumeRoleWithWebIdentity",
			"Principal": map[string]any{"Federated": "arn:aws:iam::1:oidc-provider/" + githuboidc.Issuer},
			"Condition": cond,
		}
	}
	policy := func(s ...any) map[string]any { return map[string]any{"Statement": s} }
	prod := githubClaims("o/r", "environment:prod")
	cases := []struct {
		name   string
		policy map[string]any
		claims claims
		want   bool
	}{
		{"equals matches", policy(stmt("Allow", map[string]any{"StringEquals": map[string]any{sub: "repo:o/r:environment:prod", aud: "sts.amazonaws.com"}})), prod, true},
		{"equals is case-sensitive in values", policy(stmt("Allow", map[string]any{"StringEquals": map[string]any{sub: "repo:O/R:environment:prod"}})), prod, false},
		{"keys are case-insensitive", policy(stmt("Allow", map[string]any{"StringEquals": map[string]any{strings.ToUpper(sub): "repo:o/r:environment:prod"}})), prod, true},
		{"any listed value", policy(stmt("Allow", map[string]any{"StringEquals": map[string]any{sub: []any{"x", "repo:o/r:environment:prod"}}})), prod, true},
		{"every key must hold", policy(stmt("Allow", map[string]any{"StringEquals": map[string]any{sub: "repo:o/r:environment:prod", aud: "other"}})), prod, false},
		{"every operator must hold", policy(stmt("Allow", map[string]any{
			"StringEquals": map[string]any{aud: "sts.amazonaws.com"},
			"StringLike":   map[string]any{sub: "repo:o/r:ref:*"},
		})), prod, false},
		{"missing key fails", policy(stmt("Allow", map[string]any{"StringEquals": map[string]any{githuboidc.Issuer + ":repository_owner": "o"}})), prod, false},
		{"no condition trusts every token", policy(stmt("Allow", nil)), prod, true},
		{"like: * spans colons", policy(stmt("Allow", map[string]any{"StringLike": map[string]any{sub: "repo:o/r*"}})), githubClaims("o/r-fork", "pull_request"), true},
		{"like: ? is one character", policy(stmt("Allow", map[string]any{"StringLike": map[string]any{sub: "repo:o/?:pull_request"}})), githubClaims("o/r", "pull_request"), true},
		{"like: literal otherwise", policy(stmt("Allow", map[string]any{"StringLike": map[string]any{sub: "repo:o/r:environment:*"}})), githubClaims("o/r", "ref:refs/heads/x"), false},
		{"second statement widens", policy(
			stmt("Allow", map[string]any{"StringEquals": map[string]any{sub: "repo:o/r:environment:prod"}}),
			stmt("Allow", map[string]any{"StringLike": map[string]any{sub: "repo:o/r:*"}}),
		), githubClaims("o/r", "ref:refs/heads/x"), true},
		{"deny wins", policy(
			stmt("Allow", map[string]any{"StringLike": map[string]any{sub: "repo:o/r:*"}}),
			stmt("Deny", map[string]any{"StringEquals": map[string]any{sub: "repo:o/r:pull_request"}}),
		), githubClaims("o/r", "pull_request"), false},
		{"other principals ignored", policy(map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": "ec2.amazonaws.com"},
		}), prod, false},
	}
	for _, tc := range cases {
		if got := trustAllows(t, tc.policy, tc.claims); got != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// contributorClaim is a token someone other than the prod environment's
// reviewers can get GitHub to issue.
type contributorClaim struct {
	who    string
	claims claims
}

// contributorClaims lists, for one environment, the tokens a contributor with
// push access to the ops repositories or to the review repository can produce,
// and some that an outsider can.
func contributorClaims(all map[string]config.Environment, e config.Environment) []contributorClaim {
	review := e.GitHubOidc.ReviewRepository
	out := []contributorClaim{
		{"a push to a feature branch", githubClaims(e.Repository, "ref:refs/heads/feature-x")},
		{"a branch named like main's subject", githubClaims(e.Repository, "ref:refs/heads/main/x")},
		{"a tag", githubClaims(e.Repository, "ref:refs/tags/v1")},
		{"a pull request in the ops repository", githubClaims(e.Repository, "pull_request")},
		{"a job in the ops repository's other environment", githubClaims(e.Repository, "environment:"+e.Name+"-other")},
		{"an outsider's repository", githubClaims("someone/"+strings.Split(e.Repository, "/")[1], "environment:"+e.Name)},
		{"a repository whose name extends the ops repository's", githubClaims(e.Repository+"-fork", "environment:"+e.Name)},
		{"the right subject for another audience", claims{
			githuboidc.Issuer + ":sub": githuboidc.Subject(e.Repository, "environment:"+e.Name),
			githuboidc.Issuer + ":aud": "https://github.com/" + strings.Split(e.Repository, "/")[0],
		}},
	}
	if e.Name == "prod" {
		out = append(out, contributorClaim{"a schedule, workflow_run or issue_comment job on main", githubClaims(e.Repository, "ref:refs/heads/main")})
	}
	for _, other := range all {
		if other.Name == e.Name {
			continue
		}
		out = append(out,
			contributorClaim{"a job in this repository's " + other.Name + " environment", githubClaims(e.Repository, "environment:"+other.Name)},
			contributorClaim{"the " + other.Name + " repository naming this environment", githubClaims(other.Repository, "environment:"+e.Name)},
			contributorClaim{"the " + other.Name + " repository's main branch", githubClaims(other.Repository, "ref:refs/heads/main")},
			contributorClaim{"the " + other.Name + " repository's own deploy", githubClaims(other.Repository, "environment:"+other.Name)},
		)
	}
	if review != "" {
		out = append(out,
			contributorClaim{"the review repository's main branch", githubClaims(review, "ref:refs/heads/main")},
			contributorClaim{"the review repository's environment " + e.Name, githubClaims(review, "environment:"+e.Name)},
			contributorClaim{"a pull request of the review repository", githubClaims(review, "pull_request")},
		)
	}
	return out
}

// oidcRoles returns each role trusting GitHub's provider, by role name, with
// its trust policy.
func oidcRoles(t *testing.T, s *synthesized, env string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range s.resources(env, "AWS::IAM::Role") {
		doc := props(r)["AssumeRolePolicyDocument"].(map[string]any)
		if !strings.Contains(jsonString(t, doc), githuboidc.Issuer) {
			continue
		}
		name, _ := props(r)["RoleName"].(string)
		if name == "" {
			name = id
		}
		out[name] = doc
	}
	return out
}

// TestGivenContributorClaims_ThenOnlyTheIntendedRolesTrustThem evaluates every
// OIDC role of both environments against every claim a contributor can
// produce. Prod's deploy role accepts exactly repo:<prod repo>:environment:prod;
// dev's deploy role its configured subjects; the diff role only the review
// repository's pull requests. Everything else is refused.
func TestGivenContributorClaims_ThenOnlyTheIntendedRolesTrustThem(t *testing.T) {
	s := committedStacks(t)
	all := committed(t)
	for _, env := range envNames {
		e := all[env]
		roles := oidcRoles(t, s, env)
		deploy, diff := e.ResourcePrefix()+"-deploy", e.ResourcePrefix()+"-diff"
		want := []string{deploy}
		if e.GitHubOidc.ReviewRepository != "" {
			want = append(want, diff)
		}
		if got := slices.Sorted(maps.Keys(roles)); !slices.Equal(got, want) {
			t.Fatalf("%s: roles trusting GitHub OIDC are %v, want %v", env, got, want)
		}

		// The intended claims work (so the evaluator does not refuse everything).
		intended := map[string][]claims{}
		for _, sfx := range e.GitHubOidc.Subjects {
			intended[deploy] = append(intended[deploy], githubClaims(e.Repository, sfx))
		}
		if env == "prod" {
			if want := []string{"environment:prod"}; !slices.Equal(e.GitHubOidc.Subjects, want) {
				t.Errorf("prod trusts subjects %v, want exactly %v", e.GitHubOidc.Subjects, want)
			}
		}
		if r := e.GitHubOidc.ReviewRepository; r != "" {
			intended[diff] = []claims{githubClaims(r, "pull_request")}
		}
		for role, list := range intended {
			for _, c := range list {
				if !trustAllows(t, roles[role], c) {
					t.Errorf("%s: %s refuses its intended claim %v", env, role, c)
				}
			}
		}

		for _, cc := range contributorClaims(all, e) {
			for role, doc := range roles {
				got := trustAllows(t, doc, cc.claims)
				ok := slices.ContainsFunc(intended[role], func(c claims) bool { return fmt.Sprint(c) == fmt.Sprint(cc.claims) })
				if got != ok {
					t.Errorf("%s: %s (sub %s, aud %s): %s allows = %v, want %v", env, cc.who,
						cc.claims[githuboidc.Issuer+":sub"], cc.claims[githuboidc.Issuer+":aud"], role, got, ok)
				}
			}
		}
	}
}

// TestGivenThePullRequestRole_ThenItReadsOnlyThisStacksTemplate: a pull request
// runs its own copy of diff.yml, so whoever opens one holds the diff role. It
// may call the four CloudFormation read actions on this stack's ARN and
// nothing else: no sts:AssumeRole (the CDK lookup role carries ReadOnlyAccess),
// no managed policy, no other resource.
func TestGivenThePullRequestRole_ThenItReadsOnlyThisStacksTemplate(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		if e.GitHubOidc.ReviewRepository == "" {
			continue
		}
		roleName := e.ResourcePrefix() + "-diff"
		var roleID string
		for id, r := range s.resources(env, "AWS::IAM::Role") {
			if props(r)["RoleName"] == roleName {
				roleID = id
				for _, k := range []string{"ManagedPolicyArns", "Policies"} {
					if v, ok := props(r)[k]; ok {
						t.Errorf("%s: %s has %s %s", env, roleName, k, jsonString(t, v))
					}
				}
			}
		}
		if roleID == "" {
			t.Fatalf("%s: no role %s", env, roleName)
		}
		// A literal ARN: the stack's region is known, so cdk.json's
		// @aws-cdk/core:enablePartitionLiterals writes the partition out.
		wantResource := fmt.Sprintf(`"arn:aws:cloudformation:%s:%s:stack/%s/*"`, e.Region, e.Account, e.StackName())
		var statements int
		for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
			for id, p := range s.resources(env, typ) {
				if !strings.Contains(jsonString(t, props(p)["Roles"]), `"Ref":"`+roleID+`"`) {
					continue
				}
				for _, st := range asList(props(p)["PolicyDocument"].(map[string]any)["Statement"]) {
					stm := st.(map[string]any)
					statements++
					var actions []string
					for _, a := range asList(stm["Action"]) {
						actions = append(actions, fmt.Sprint(a))
					}
					slices.Sort(actions)
					if stm["Effect"] != "Allow" || !slices.Equal(actions, githuboidc.DiffRoleActions) {
						t.Errorf("%s %s: diff role statement %s, want Allow %v only", env, id, jsonString(t, stm), githuboidc.DiffRoleActions)
					}
					res := asList(stm["Resource"])
					if len(res) != 1 || jsonString(t, res[0]) != wantResource {
						t.Errorf("%s %s: diff role resources %s, want only %s", env, id, jsonString(t, stm["Resource"]), wantResource)
					}
					if stm["Condition"] != nil || stm["NotAction"] != nil || stm["NotResource"] != nil {
						t.Errorf("%s %s: diff role statement has Condition/NotAction/NotResource: %s", env, id, jsonString(t, stm))
					}
				}
			}
		}
		if statements != 1 {
			t.Errorf("%s: diff role has %d statements, want 1", env, statements)
		}
	}
}
