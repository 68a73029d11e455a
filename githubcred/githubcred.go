// Package githubcred parses the GitHub credential kept in Secrets Manager. The
// fleet controller authenticates with it and the bootstrap checks it, so its
// JSON shape is defined once, here.
//
// The secret is a JSON object, either a GitHub App (preferred):
//
//	{"app_id": 123, "installation_id": 456, "private_key": "<the App's PEM private key>"}
//
// or a fine-grained personal access token:
//
//	{"token": "github_pat_..."}
package githubcred

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kinds of credential.
const (
	KindApp = "app"
	KindPAT = "pat"
)

// Credential is a parsed GitHub credential. Its String and GoString methods never
// print the secret parts, so it is safe to log by accident.
type Credential struct {
	Kind           string
	AppID          int64
	InstallationID int64
	PrivateKey     []byte
	Token          string
}

type document struct {
	AppID          json.Number `json:"app_id"`
	InstallationID json.Number `json:"installation_id"`
	PrivateKey     string      `json:"private_key"`
	Token          string      `json:"token"`
}

// ErrMalformed is wrapped by every parse error. Parse errors never quote the
// secret's content.
var ErrMalformed = errors.New("malformed GitHub credential secret")

// Parse reads the secret's JSON. wantKind, when not empty, must match the kind found.
func Parse(secret []byte, wantKind string) (Credential, error) {
	if len(strings.TrimSpace(string(secret))) == 0 {
		return Credential{}, fmt.Errorf("%w: the secret is empty; store {\"app_id\",\"installation_id\",\"private_key\"} or {\"token\"}", ErrMalformed)
	}
	var doc document
	dec := json.NewDecoder(strings.NewReader(string(secret)))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		// The decoder's message can quote content; report only the kind of problem.
		return Credential{}, fmt.Errorf("%w: not a JSON object with app_id, installation_id and private_key, or token", ErrMalformed)
	}
	hasApp := doc.AppID != "" || doc.InstallationID != "" || doc.PrivateKey != ""
	hasToken := doc.Token != ""
	var c Credential
	switch {
	case hasApp && hasToken:
		return Credential{}, fmt.Errorf("%w: both App fields and token are set; keep one credential", ErrMalformed)
	case hasToken:
		c = Credential{Kind: KindPAT, Token: doc.Token}
	case hasApp:
		appID, err1 := doc.AppID.Int64()
		instID, err2 := doc.InstallationID.Int64()
		var missing []string
		if err1 != nil || appID <= 0 {
			missing = append(missing, "app_id (a positive number)")
		}
		if err2 != nil || instID <= 0 {
			missing = append(missing, "installation_id (a positive number)")
		}
		if !strings.Contains(doc.PrivateKey, "PRIVATE KEY-----") {
			missing = append(missing, "private_key (the App's PEM key)")
		}
		if len(missing) > 0 {
			return Credential{}, fmt.Errorf("%w: App credential lacks %s", ErrMalformed, strings.Join(missing, ", "))
		}
		c = Credential{Kind: KindApp, AppID: appID, InstallationID: instID, PrivateKey: []byte(doc.PrivateKey)}
	default:
		return Credential{}, fmt.Errorf("%w: neither App fields nor token are set", ErrMalformed)
	}
	if wantKind != "" && c.Kind != wantKind {
		return Credential{}, fmt.Errorf("%w: config says %s but the secret holds a %s credential", ErrMalformed, wantKind, c.Kind)
	}
	return c, nil
}

// String describes the credential without its secret parts.
func (c Credential) String() string {
	if c.Kind == KindApp {
		return fmt.Sprintf("GitHub App %d (installation %d)", c.AppID, c.InstallationID)
	}
	return "GitHub personal access token"
}

// GoString keeps %#v from printing the secret parts.
func (c Credential) GoString() string { return c.String() }
