package githubcred

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Obviously fake values: nothing here is a real credential.
const (
	fakeKey   = "-----BEGIN TEST PRIVATE KEY-----\nZmFrZS1rZXktZm9yLXRlc3Rz\n-----END TEST PRIVATE KEY-----"
	fakeToken = "fake-token-for-tests-0001"
)

func TestGivenAppSecret_WhenParsed_ThenAllFieldsAreRead(t *testing.T) {
	secret := fmt.Sprintf(`{"app_id": 123, "installation_id": "456", "private_key": %q}`, fakeKey)
	c, err := Parse([]byte(secret), KindApp)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindApp || c.AppID != 123 || c.InstallationID != 456 || string(c.PrivateKey) != fakeKey {
		t.Errorf("parsed %+v", c.String())
	}
}

func TestGivenPatSecret_WhenParsed_ThenTheTokenIsRead(t *testing.T) {
	c, err := Parse([]byte(`{"token": "`+fakeToken+`"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindPAT || c.Token != fakeToken {
		t.Errorf("parsed kind %s", c.Kind)
	}
}

func TestGivenBadSecret_WhenParsed_ThenTheErrorNamesTheProblemButNotTheContent(t *testing.T) {
	cases := []struct {
		name, secret, kind, want string
	}{
		{"empty", "  ", "", "the secret is empty"},
		{"not json", "token=" + fakeToken, "", "not a JSON object"},
		{"unknown field", `{"tokn": "` + fakeToken + `"}`, "", "not a JSON object"},
		{"nothing set", `{}`, "", "neither App fields nor token are set"},
		{"both kinds", fmt.Sprintf(`{"token": %q, "app_id": 1, "installation_id": 2, "private_key": %q}`, fakeToken, fakeKey), "", "both App fields and token are set"},
		{"app without key", `{"app_id": 1, "installation_id": 2, "private_key": "` + fakeToken + `"}`, "", "App credential lacks private_key"},
		{"app with bad ids", fmt.Sprintf(`{"app_id": 0, "installation_id": -5, "private_key": %q}`, fakeKey), "", "App credential lacks app_id (a positive number), installation_id (a positive number)"},
		{"wrong kind", `{"token": "` + fakeToken + `"}`, KindApp, "config says app but the secret holds a pat credential"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.secret), tc.kind)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error(), fakeToken) || strings.Contains(err.Error(), "ZmFrZS1rZXk") {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestGivenACredential_WhenFormatted_ThenNoSecretPartIsPrinted(t *testing.T) {
	app := Credential{Kind: KindApp, AppID: 1, InstallationID: 2, PrivateKey: []byte(fakeKey)}
	pat := Credential{Kind: KindPAT, Token: fakeToken}
	for _, c := range []Credential{app, pat} {
		for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
			if strings.Contains(out, fakeToken) || strings.Contains(out, "PRIVATE KEY") {
				t.Errorf("formatting prints a secret: %s", out)
			}
		}
	}
}
