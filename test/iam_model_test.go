package test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The IAM statement model: every role of a template with the statements that
// apply to it (trust policy, inline policies, policy resources attached to it,
// customer managed policies it names) parsed into comparable values, so tests
// assert whole statements (effect, actions, resources, conditions) by Sid
// instead of searching the policy JSON for a substring.

// statement is one IAM policy statement, normalized: lists sorted, single
// values as one-element lists, CloudFormation references rendered as text
// (${LogicalId.Attribute}, ${AWS::Partition}).
type statement struct {
	Sid        string                         `json:",omitempty"`
	Effect     string                         `json:",omitempty"`
	Principal  map[string][]string            `json:",omitempty"`
	Actions    []string                       `json:",omitempty"`
	NotActions []string                       `json:",omitempty"`
	Resources  []string                       `json:",omitempty"`
	Conditions map[string]map[string][]string `json:",omitempty"`
}

func (s statement) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// key names a statement: its Sid, or for statements CDK grants generate
// without one, "~" and its sorted actions.
func (s statement) key() string {
	if s.Sid != "" {
		return s.Sid
	}
	return "~" + strings.Join(s.Actions, ",")
}

// role is one AWS::IAM::Role and what applies to it.
type role struct {
	ID    string // logical id
	Name  string // RoleName, or the logical id when CloudFormation names it
	Trust []statement
	// Policy holds the identity statements from every source, in template order.
	Policy []statement
	// AWSManaged are the names of AWS managed policies attached (their
	// statements are not in the template).
	AWSManaged []string
}

// statements returns the role's identity statements by key; two statements
// with one key fail the test.
func (r *role) statements(t testing.TB) map[string]statement {
	t.Helper()
	out := map[string]statement{}
	for _, s := range r.Policy {
		if _, dup := out[s.key()]; dup {
			t.Errorf("role %s: two statements named %s", r.Name, s.key())
		}
		out[s.key()] = s
	}
	return out
}

// allowedActions is the set of actions the role's Allow statements grant, plus
// "managed:<name>" for each AWS managed policy.
func (r *role) allowedActions() []string {
	set := map[string]bool{}
	for _, s := range r.Policy {
		if s.Effect == "Allow" {
			for _, a := range s.Actions {
				set[a] = true
			}
		}
	}
	for _, m := range r.AWSManaged {
		set["managed:"+m] = true
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// roles parses every role of one environment's template, by Name.
func (s *synthesized) roles(t testing.TB, env string) map[string]*role {
	t.Helper()
	byID := map[string]*role{}
	out := map[string]*role{}
	resources := s.templates[env]["Resources"].(map[string]any)
	for id, r := range s.resources(env, "AWS::IAM::Role") {
		p := props(r)
		ro := &role{ID: id, Name: id}
		if n, ok := p["RoleName"].(string); ok {
			ro.Name = n
		}
		ro.Trust = parseDocument(t, p["AssumeRolePolicyDocument"])
		for _, inline := range asList(p["Policies"]) {
			ro.Policy = append(ro.Policy, parseDocument(t, inline.(map[string]any)["PolicyDocument"])...)
		}
		for _, arn := range asList(p["ManagedPolicyArns"]) {
			if ref, ok := arn.(map[string]any)["Ref"].(string); ok {
				mp, ok := resources[ref].(map[string]any)
				if !ok || mp["Type"] != "AWS::IAM::ManagedPolicy" {
					t.Fatalf("%s role %s: managed policy %s is not in the template", env, id, ref)
				}
				ro.Policy = append(ro.Policy, parseDocument(t, props(mp)["PolicyDocument"])...)
				continue
			}
			text := flatten(arn)
			name, ok := strings.CutPrefix(text, "arn:${AWS::Partition}:iam::aws:policy/")
			if !ok {
				t.Fatalf("%s role %s: managed policy ARN %s is neither AWS managed nor in the template", env, id, text)
			}
			ro.AWSManaged = append(ro.AWSManaged, name[strings.LastIndex(name, "/")+1:])
		}
		byID[id] = ro
		out[ro.Name] = ro
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for id, pol := range s.resources(env, typ) {
			p := props(pol)
			doc := parseDocument(t, p["PolicyDocument"])
			for _, ref := range asList(p["Roles"]) {
				name, _ := ref.(map[string]any)["Ref"].(string)
				ro, ok := byID[name]
				if !ok {
					t.Fatalf("%s %s: attached to %v, which is not a role of this template", env, id, ref)
				}
				if typ == "AWS::IAM::ManagedPolicy" && slices.ContainsFunc(ro.Policy, func(s statement) bool { return len(doc) > 0 && s.String() == doc[0].String() }) {
					continue // already attached through ManagedPolicyArns
				}
				ro.Policy = append(ro.Policy, doc...)
			}
		}
	}
	return out
}

// parseDocument parses a policy document's statements.
func parseDocument(t testing.TB, doc any) []statement {
	t.Helper()
	d, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("policy document %v is not an object", doc)
	}
	var out []statement
	for _, raw := range asList(d["Statement"]) {
		m := raw.(map[string]any)
		st := statement{
			Effect:     fmt.Sprint(m["Effect"]),
			Actions:    texts(m["Action"]),
			NotActions: texts(m["NotAction"]),
			Resources:  texts(m["Resource"]),
		}
		st.Sid, _ = m["Sid"].(string)
		if p, ok := m["Principal"]; ok {
			st.Principal = map[string][]string{}
			if s, ok := p.(string); ok {
				st.Principal["*"] = []string{s}
			} else {
				for k, v := range p.(map[string]any) {
					st.Principal[k] = texts(v)
				}
			}
		}
		if c, ok := m["Condition"].(map[string]any); ok {
			st.Conditions = map[string]map[string][]string{}
			for op, kv := range c {
				st.Conditions[op] = map[string][]string{}
				for k, v := range kv.(map[string]any) {
					st.Conditions[op][k] = texts(v)
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// texts renders a single value or a list as a sorted list of strings.
func texts(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, flatten(x))
	}
	slices.Sort(out)
	return out
}

// logicalID finds the one resource of a type whose property has a value.
func (s *synthesized) logicalID(t testing.TB, env, typ, prop, value string) string {
	t.Helper()
	var ids []string
	for id, r := range s.resources(env, typ) {
		if fmt.Sprint(props(r)[prop]) == value {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s: %d %s with %s=%s, want 1", env, len(ids), typ, prop, value)
	}
	return ids[0]
}

// logicalIDByPrefix finds the one resource of a type whose logical id starts with prefix.
func (s *synthesized) logicalIDByPrefix(t testing.TB, env, typ, prefix string) string {
	t.Helper()
	var ids []string
	for id := range s.resources(env, typ) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s: %d %s with logical id %s*, want 1", env, len(ids), typ, prefix)
	}
	return ids[0]
}

// assertStatements compares a role's statements with the wanted ones, whole,
// and fails for a wanted statement that is missing and for any statement of
// the role that the test does not name.
func assertStatements(t *testing.T, env string, r *role, want []statement) {
	t.Helper()
	got := r.statements(t)
	named := map[string]bool{}
	for _, w := range want {
		w = normalized(w)
		named[w.key()] = true
		g, ok := got[w.key()]
		if !ok {
			t.Errorf("%s role %s: no statement %s; want %s", env, r.Name, w.key(), w)
			continue
		}
		if g.String() != w.String() {
			t.Errorf("%s role %s: statement %s\n got: %s\nwant: %s", env, r.Name, w.key(), g, w)
		}
	}
	for k, g := range got {
		if !named[k] {
			t.Errorf("%s role %s: statement %s is not asserted by this test: %s", env, r.Name, k, g)
		}
	}
}

// normalized sorts a hand-written statement's lists as parseDocument does.
func normalized(s statement) statement {
	s.Actions = slices.Sorted(slices.Values(s.Actions))
	s.NotActions = slices.Sorted(slices.Values(s.NotActions))
	s.Resources = slices.Sorted(slices.Values(s.Resources))
	if len(s.Actions) == 0 {
		s.Actions = nil
	}
	if len(s.NotActions) == 0 {
		s.NotActions = nil
	}
	if len(s.Resources) == 0 {
		s.Resources = nil
	}
	for _, kv := range s.Conditions {
		for k, v := range kv {
			kv[k] = slices.Sorted(slices.Values(v))
		}
	}
	return s
}
