package checks

import (
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

func TestParseReadPolicy(t *testing.T) {
	const (
		ctl   = "arn:aws:iam::111111111111:role/synapse-ops-runners-dev-controller"
		admin = "arn:aws:iam::111111111111:role/break-glass"
	)
	deny := func(principal, action, cond string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Deny","Principal":` + principal +
			`,"Action":` + action + `,"Resource":"*","Condition":` + cond + `}]}`
	}
	stringNotEquals := `{"StringNotEquals":{"aws:PrincipalArn":["` + ctl + `","` + admin + `"]}}`
	for name, tc := range map[string]struct {
		doc  string
		want []string // nil: no deny-all-but statement
	}{
		"as the stack renders it": {deny(`{"AWS":"*"}`, `"secretsmanager:GetSecretValue"`, stringNotEquals), []string{ctl, admin}},
		"principal star, one value as a string, statement as an object": {
			`{"Statement":{"Effect":"Deny","Principal":"*","Action":["secretsmanager:GetSecretValue"],"Condition":{"StringNotEquals":{"aws:PrincipalArn":"` + ctl + `"}}}}`,
			[]string{ctl}},
		"wildcard action, ArnNotEquals, key case": {deny(`{"AWS":["*"]}`, `["secretsmanager:*"]`, `{"ArnNotEquals":{"AWS:principalarn":["`+ctl+`"]}}`), []string{ctl}},
		"after an allow statement": {
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + admin + `"},"Action":"secretsmanager:GetSecretValue","Resource":"*"},` +
				strings.TrimSuffix(strings.TrimPrefix(deny(`"*"`, `"secretsmanager:GetSecretValue"`, stringNotEquals), `{"Version":"2012-10-17","Statement":[`), `]}`) + `]}`,
			[]string{ctl, admin}},
		// Conditions are ANDed: a second one narrows the deny, so it does not count.
		"extra condition":              {deny(`"*"`, `"secretsmanager:GetSecretValue"`, `{"StringNotEquals":{"aws:PrincipalArn":["`+ctl+`"],"aws:SourceVpc":"vpc-1"}}`), nil},
		"extra operator":               {deny(`"*"`, `"secretsmanager:GetSecretValue"`, `{"StringNotEquals":{"aws:PrincipalArn":["`+ctl+`"]},"Bool":{"aws:SecureTransport":"true"}}`), nil},
		"allow, not deny":              {strings.Replace(deny(`"*"`, `"secretsmanager:GetSecretValue"`, stringNotEquals), `"Deny"`, `"Allow"`, 1), nil},
		"one principal only":           {deny(`{"AWS":"`+admin+`"}`, `"secretsmanager:GetSecretValue"`, stringNotEquals), nil},
		"other action":                 {deny(`"*"`, `"secretsmanager:PutSecretValue"`, stringNotEquals), nil},
		"StringNotLike does not count": {deny(`"*"`, `"secretsmanager:GetSecretValue"`, `{"StringNotLike":{"aws:PrincipalArn":["`+ctl+`"]}}`), nil},
		"no statements":                {`{"Version":"2012-10-17"}`, nil},
	} {
		got, err := parseReadPolicy(tc.doc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch {
		case tc.want == nil && got != nil:
			t.Errorf("%s: found %+v, want none", name, got)
		case tc.want != nil && (got == nil || !slices.Equal(got.Readers, tc.want)):
			t.Errorf("%s: got %+v, want readers %v", name, got, tc.want)
		}
	}
	if _, err := parseReadPolicy(`{"Statement":`); err == nil || !strings.Contains(err.Error(), "not a JSON policy document") {
		t.Errorf("malformed: %v", err)
	}
}

func TestStackRoleArn(t *testing.T) {
	env := config.Environment{Name: "prod", Account: "222222222222", Region: "us-east-1"}
	if got := stackRoleArn(env, "controller"); got != "arn:aws:iam::222222222222:role/synapse-ops-runners-prod-controller" {
		t.Errorf("got %s", got)
	}
	env.Region = "us-gov-west-1"
	if got := stackRoleArn(env, "runner"); !strings.HasPrefix(got, "arn:aws-us-gov:iam::") {
		t.Errorf("got %s", got)
	}
}
