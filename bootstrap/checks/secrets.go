package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode"

	"github.com/Sage-Bionetworks/synapse-ops-runners/githubcred"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

const (
	checkAdminToken = "admin token secret"
	checkCredSecret = "github credential secret"
)

// ErrNoToken is returned by an admin-token source that got nothing.
var ErrNoToken = errors.New("no admin token given")

// checkAdminToken reads the secret's metadata only: whether a current version
// exists says "has a value" without the tool ever holding the token.
func (r *runner) checkAdminToken(ctx context.Context) Row {
	name := r.in.Env.AdminToken.SecretName
	out, err := r.in.AWS.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
	if err != nil {
		if Classify(err) != KindNotFound {
			return errorRow(checkAdminToken, "secretsmanager:DescribeSecret "+name, err)
		}
		row := Row{Check: checkAdminToken, State: Missing, Detail: "no secret " + name}
		if r.in.Env.AdminToken.Create {
			row.Fix = "deploy the stack first (adminToken.create is true, so it creates the secret with its KMS key), then run apply to set the value"
		} else {
			row.Fix = "run apply: it creates the secret and reads the token from standard input (no echo) or --admin-token-file"
		}
		return row
	}
	if out.DeletedDate != nil {
		return Row{Check: checkAdminToken, State: Wrong,
			Detail: fmt.Sprintf("%s is scheduled for deletion on %s", name, out.DeletedDate.UTC().Format("2006-01-02")),
			Fix:    shellQuote("aws", "secretsmanager", "restore-secret", "--secret-id", name) + ", then run apply if it has no value"}
	}
	for _, stages := range out.VersionIdsToStages {
		if slices.Contains(stages, "AWSCURRENT") {
			return Row{Check: checkAdminToken, State: OK, Detail: name + " exists and has a current value"}
		}
	}
	return Row{Check: checkAdminToken, State: Missing, Detail: name + " exists but has no value",
		Fix: "run apply: it reads the token from standard input (no echo) or --admin-token-file"}
}

// fixAdminToken stores the token only where there is none: replacing a working
// token is a rotation, which belongs to aws secretsmanager put-secret-value.
func (r *runner) fixAdminToken(ctx context.Context, row Row) (string, error) {
	if row.State != Missing || r.in.AdminToken == nil {
		return "", nil
	}
	name := r.in.Env.AdminToken.SecretName
	exists := true
	if _, err := r.in.AWS.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name}); err != nil {
		if Classify(err) != KindNotFound {
			return "", fmt.Errorf("secretsmanager:DescribeSecret: %w", err)
		}
		exists = false
	}
	if !exists && r.in.Env.AdminToken.Create {
		return "", nil // the stack creates it, with its own key and policy
	}
	raw, err := r.in.AdminToken()
	if err != nil {
		return "", err
	}
	token := string(bytes.TrimSpace(raw))
	r.in.Redactor.Add(token)
	if token == "" {
		return "", ErrNoToken
	}
	if bytes.ContainsFunc([]byte(token), unicode.IsSpace) {
		return "", errors.New("the admin token contains whitespace; give the token alone, on one line")
	}
	if !exists {
		var tags []smtypes.Tag
		for _, k := range sortedKeys(r.in.Env.Tags) {
			tags = append(tags, smtypes.Tag{Key: new(k), Value: new(r.in.Env.Tags[k])})
		}
		if _, err := r.in.AWS.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: &name, SecretString: &token, Tags: tags,
			Description: new("Synapse admin personal access token read by synapse-ops-runners jobs"),
		}); err != nil {
			return "", fmt.Errorf("secretsmanager:CreateSecret %s: %w", name, err)
		}
		return "created " + name + " with the given token", nil
	}
	if _, err := r.in.AWS.SecretsManager.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &name, SecretString: &token}); err != nil {
		return "", fmt.Errorf("secretsmanager:PutSecretValue %s: %w", name, err)
	}
	return "stored the given token in " + name, nil
}

// checkCredentialSecret reads the GitHub credential and checks its JSON shape
// with the same parser the controller uses. Its value is kept in memory only.
func (r *runner) checkCredentialSecret(ctx context.Context) {
	env := r.in.Env
	name := env.GitHubCredential.SecretName
	shape := `{"app_id": N, "installation_id": N, "private_key": "<PEM>"}`
	if env.GitHubCredential.Kind == githubcred.KindPAT {
		shape = `{"token": "<fine-grained PAT>"}`
	}
	out, err := r.in.AWS.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &name})
	if err != nil {
		if Classify(err) != KindNotFound {
			r.ghBroken = "the GitHub credential secret could not be read"
			r.add(errorRow(checkCredSecret, "secretsmanager:GetSecretValue "+name, err))
			return
		}
		r.ghBroken = "the GitHub credential secret is missing"
		r.add(Row{Check: checkCredSecret, State: Missing, Detail: "no secret " + name + " (or it has no value)",
			Fix: fmt.Sprintf("store the %s credential: aws secretsmanager create-secret --name %s --secret-string file://cred.json, with %s (the bootstrap never mints GitHub credentials)", env.GitHubCredential.Kind, name, shape)})
		return
	}
	value := deref(out.SecretString)
	if value == "" && len(out.SecretBinary) > 0 {
		value = string(out.SecretBinary)
	}
	r.in.Redactor.Add(value)
	cred, err := githubcred.Parse([]byte(value), env.GitHubCredential.Kind)
	if err != nil {
		r.ghBroken = "the GitHub credential secret is malformed"
		// githubcred's errors never quote the secret.
		r.add(Row{Check: checkCredSecret, State: Wrong, Detail: name + ": " + err.Error(),
			Fix: fmt.Sprintf("replace the value with %s: aws secretsmanager put-secret-value --secret-id %s --secret-string file://cred.json", shape, name)})
		return
	}
	r.in.Redactor.Add(cred.Token, string(cred.PrivateKey))
	r.cred = &cred
	r.add(Row{Check: checkCredSecret, State: OK, Detail: fmt.Sprintf("%s holds a %s", name, cred.String())})
}
