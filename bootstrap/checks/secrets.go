package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
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
// exists says "has a value" without the tool ever holding the token. So the
// stack's resource policy, which denies GetSecretValue on the token to all but
// the runner role and the break-glass admins, never gets in its way.
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
	if hasCurrent(out.VersionIdsToStages) {
		return Row{Check: checkAdminToken, State: OK, Detail: name + " exists and has a current value"}
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
		if Classify(err) == KindDenied {
			r.add(r.credentialDenied(ctx, err, shape))
			return
		}
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

// credentialDenied explains an access-denied read of the GitHub credential.
// After a deploy the stack's resource policy denies it to everyone but the
// controller and the break-glass principals: for anyone else that is the
// design working, not an error, so the row is ok (from metadata) and the
// GitHub checks, which need the credential, are skipped with how to run them.
// Any other denial (no such policy, a policy that is not the stack's, or the
// policy itself unreadable) stays an error row, as before the deploy.
func (r *runner) credentialDenied(ctx context.Context, readErr error, shape string) Row {
	env := r.in.Env
	name := env.GitHubCredential.SecretName
	denied := errorRow(checkCredSecret, "secretsmanager:GetSecretValue "+name, readErr)
	r.ghBroken = "the GitHub credential secret could not be read"
	controller := stackRoleArn(env, "controller")
	doc, err := r.policyOf(ctx, name)
	if err != nil {
		denied.Detail += "; reading its resource policy failed too: " + errMessage(err)
		return denied
	}
	if doc == nil {
		return denied
	}
	pol, err := parseReadPolicy(*doc)
	if err != nil || pol == nil || !slices.Contains(pol.Readers, controller) {
		return denied
	}
	var admins []string
	for _, p := range pol.Readers {
		if p != controller {
			admins = append(admins, p)
		}
	}
	// Whether the secret has a value is in its metadata, which the policy does
	// not hide; without DescribeSecret the row just does not claim it.
	detail := name
	if meta, err := r.in.AWS.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name}); err == nil {
		if meta.DeletedDate != nil {
			r.ghBroken = "the GitHub credential secret is scheduled for deletion"
			return Row{Check: checkCredSecret, State: Wrong,
				Detail: fmt.Sprintf("%s is scheduled for deletion on %s", name, meta.DeletedDate.UTC().Format("2006-01-02")),
				Fix:    shellQuote("aws", "secretsmanager", "restore-secret", "--secret-id", name)}
		}
		if !hasCurrent(meta.VersionIdsToStages) {
			r.ghBroken = "the GitHub credential secret is missing"
			return Row{Check: checkCredSecret, State: Missing, Detail: name + " exists but has no value",
				Fix: fmt.Sprintf("store the %s credential as one of the break-glass principals: aws secretsmanager put-secret-value --secret-id %s --secret-string file://cred.json, with %s", env.GitHubCredential.Kind, name, shape)}
		}
		detail += " has a current value,"
	}
	r.ghBroken = ""
	r.ghSkipped = howToRunAsBreakGlass(env, admins)
	return Row{Check: checkCredSecret, State: OK,
		Detail: fmt.Sprintf("%s readable only by the controller and %s (resource policy); shape not checked from this principal", detail, breakGlass(len(admins)))}
}

// howToRunAsBreakGlass is the fix of the rows skipped because this principal
// may not read the GitHub credential.
func howToRunAsBreakGlass(env config.Environment, admins []string) string {
	cmd := "bin/bootstrap plan --env " + env.Name
	if len(admins) == 0 {
		return fmt.Sprintf("to run them, add a break-glass principal to githubCredential.adminPrincipalArns in environments/%s.json, deploy the stack, and run %s with its credentials", env.Name, cmd)
	}
	return fmt.Sprintf("to run them, run %s with the credentials of a break-glass principal (githubCredential.adminPrincipalArns): %s", cmd, strings.Join(admins, ", "))
}

func hasCurrent(versions map[string][]string) bool {
	for _, stages := range versions {
		if slices.Contains(stages, "AWSCURRENT") {
			return true
		}
	}
	return false
}
