package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

const (
	checkOidc = "github oidc provider"
	// OidcAudience is the audience every GitHub OIDC role trusts.
	OidcAudience = "sts.amazonaws.com"
)

// OidcProviderArn is the provider the stack's roles trust: the configured ARN,
// or the one IAM gives a provider for the GitHub host (an account has at most one).
func OidcProviderArn(env config.Environment) string {
	if env.GitHubOidc.ProviderArn != "" {
		return env.GitHubOidc.ProviderArn
	}
	return fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", env.Account, config.GitHubOidcHost)
}

func (r *runner) checkOidc(ctx context.Context) Row {
	env := r.in.Env
	arn := OidcProviderArn(env)
	owned := env.GitHubOidc.CreateProvider
	out, err := r.in.AWS.IAM.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: &arn})
	if err != nil {
		if Classify(err) != KindNotFound {
			return errorRow(checkOidc, "iam:GetOpenIDConnectProvider", err)
		}
		row := Row{Check: checkOidc, State: Missing, Detail: "no provider " + arn}
		if owned {
			row.Fix = "run apply (githubOidc.createProvider is true, so the bootstrap creates it)"
		} else {
			row.Fix = "every Sage account gets it from the organisation baseline: ask its owners; only for a brand-new account set githubOidc.createProvider to true and run apply"
		}
		return row
	}
	if !slices.Contains(out.ClientIDList, OidcAudience) {
		row := Row{Check: checkOidc, State: Wrong,
			Detail: fmt.Sprintf("%s does not accept audience %s (audiences: %s)", arn, OidcAudience, strings.Join(out.ClientIDList, ", "))}
		manual := shellQuote("aws", "iam", "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn, "--client-id", OidcAudience)
		if owned {
			row.Fix = "run apply, or: " + manual
		} else {
			row.Fix = "the provider belongs to the organisation baseline; ask its owners to run: " + manual
		}
		return row
	}
	return Row{Check: checkOidc, State: OK, Detail: fmt.Sprintf("%s accepts audience %s", arn, OidcAudience)}
}

// fixOidc touches the provider only when config says this app owns it: the
// baseline's provider is shared by every GitHub role in the account.
func (r *runner) fixOidc(ctx context.Context, row Row) (string, error) {
	env := r.in.Env
	if !env.GitHubOidc.CreateProvider {
		return "", nil
	}
	arn := OidcProviderArn(env)
	if row.State == Missing {
		url := "https://" + config.GitHubOidcHost
		var tags []iamtypes.Tag
		for _, k := range sortedKeys(env.Tags) {
			tags = append(tags, iamtypes.Tag{Key: new(k), Value: new(env.Tags[k])})
		}
		if _, err := r.in.AWS.IAM.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
			Url: &url, ClientIDList: []string{OidcAudience}, Tags: tags,
		}); err != nil {
			return "", fmt.Errorf("iam:CreateOpenIDConnectProvider: %w", err)
		}
		return "created provider " + arn, nil
	}
	if _, err := r.in.AWS.IAM.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{
		OpenIDConnectProviderArn: &arn, ClientID: new(OidcAudience),
	}); err != nil {
		return "", fmt.Errorf("iam:AddClientIDToOpenIDConnectProvider: %w", err)
	}
	return "added audience " + OidcAudience, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
