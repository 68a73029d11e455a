package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
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
		if owned {
			// The stack creates it (constructs/githuboidc): creating it here too
			// would make the first deploy fail on an existing provider.
			return Row{Check: checkOidc, State: OK, Detail: "no provider yet; githubOidc.createProvider is true, so the first cdk deploy creates " + arn}
		}
		row := Row{Check: checkOidc, State: Missing, Detail: "no provider " + arn}
		{
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
// baseline's provider is shared by every GitHub role in the account. A missing
// owned provider is left to the stack, which creates it on the first deploy.
func (r *runner) fixOidc(ctx context.Context, row Row) (string, error) {
	env := r.in.Env
	if !env.GitHubOidc.CreateProvider || row.State == Missing {
		return "", nil
	}
	arn := OidcProviderArn(env)
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
