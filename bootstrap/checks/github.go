package checks

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/githubcred"
	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v88/github"
)

const (
	checkGHAuth  = "github credential works"
	checkGHPerms = "github permissions"
	checkGHRepo  = "repository"
)

// DefaultGitHubAPIURL is github.com's REST API.
const DefaultGitHubAPIURL = "https://api.github.com/"

// newGitHubClient builds a go-github client for the credential: an App
// authenticates through ghinstallation (installation tokens, refreshed by the
// transport), a PAT as a bearer token.
func newGitHubClient(opts GitHubOptions, cred githubcred.Credential) (*github.Client, *ghinstallation.Transport, error) {
	api := opts.APIURL
	if api == "" {
		api = DefaultGitHubAPIURL
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	hc := http.Client{Timeout: 30 * time.Second}
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient // a copy: go-github wraps the client's transport in place
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	urls := github.WithURLs(&api, &api)
	if cred.Kind == githubcred.KindApp {
		tr, err := ghinstallation.New(base, cred.AppID, cred.InstallationID, cred.PrivateKey)
		if err != nil {
			// The parser's message could describe the key; say only what is wrong.
			return nil, nil, fmt.Errorf("the App private_key is not a usable RSA key in PEM form")
		}
		tr.BaseURL = strings.TrimSuffix(api, "/")
		hc.Transport = tr
		c, err := github.NewClient(github.WithHTTPClient(&hc), urls)
		return c, tr, err
	}
	c, err := github.NewClient(github.WithHTTPClient(&hc), github.WithAuthToken(cred.Token), urls)
	return c, nil, err
}

// needsOrgGroups reports whether any pool uses an organization runner group
// (anything but the repository's implicit Default group).
func needsOrgGroups(env config.Environment) []string {
	var groups []string
	for _, p := range env.Pools {
		if !strings.EqualFold(p.RunnerGroup, config.DefaultRunnerGroup) && !slices.Contains(groups, p.RunnerGroup) {
			groups = append(groups, p.RunnerGroup)
		}
	}
	return groups
}

func (r *runner) github(ctx context.Context) {
	env := r.in.Env
	if r.cred == nil && r.ghSkipped != "" {
		r.add(Row{Check: "github", State: Skipped,
			Detail: "skipped: the GitHub checks (credential works, permissions, repository, runner groups) need the GitHub credential, which the stack's resource policy keeps from this principal",
			Fix:    r.ghSkipped})
		return
	}
	if r.cred == nil {
		r.add(Row{Check: "github", State: Error, Detail: "GitHub checks skipped: " + r.ghBroken, Fix: "fix the " + checkCredSecret + " row, then run again"})
		return
	}
	gh, tr, err := newGitHubClient(r.in.GitHub, *r.cred)
	if err != nil {
		r.ghBroken = "the GitHub credential cannot be used"
		r.add(Row{Check: checkGHAuth, State: Wrong, Detail: err.Error(), Fix: "store the App's private key as downloaded from its settings page"})
		return
	}
	r.gh, r.appTr = gh, tr
	owner, name, _ := strings.Cut(env.Repository, "/")

	if !r.checkAuth(ctx) {
		return
	}
	r.add(r.checkPermissions(ctx, owner, name))
	r.add(r.checkRepository(ctx, owner, name))
	r.runnerGroups(ctx, owner)
}

// checkAuth proves the credential authenticates; the other GitHub checks only
// make sense after it.
func (r *runner) checkAuth(ctx context.Context) bool {
	c := *r.cred
	if r.appTr != nil {
		// Minting an installation token proves app_id, private_key and installation_id.
		if _, err := r.appTr.Token(ctx); err != nil {
			r.ghBroken = "the GitHub App could not authenticate"
			switch Classify(err) {
			case KindUnauthenticated:
				r.add(Row{Check: checkGHAuth, State: Wrong, Detail: fmt.Sprintf("GitHub rejected App %d's signed request: app_id and private_key do not match", c.AppID),
					Fix: "store the App's current private key and its App id"})
			case KindNotFound:
				r.add(Row{Check: checkGHAuth, State: Wrong, Detail: fmt.Sprintf("App %d has no installation %d", c.AppID, c.InstallationID),
					Fix: fmt.Sprintf("install the App on the organisation of %s and store that installation id", r.in.Env.Repository)})
			default:
				r.add(errorRow(checkGHAuth, "POST /app/installations/{id}/access_tokens", err))
			}
			return false
		}
		r.add(Row{Check: checkGHAuth, State: OK, Detail: c.String() + ": installation token issued"})
		return true
	}
	user, _, err := r.gh.Users.Get(ctx, "")
	if err != nil && Classify(err) != KindDenied { // a 403 still proves the token authenticated
		r.ghBroken = "the GitHub token could not authenticate"
		if Classify(err) == KindUnauthenticated {
			r.add(Row{Check: checkGHAuth, State: Wrong, Detail: "GitHub rejected the personal access token (expired, revoked or mistyped)",
				Fix: "create a new fine-grained token and store it in " + r.in.Env.GitHubCredential.SecretName})
		} else {
			r.add(errorRow(checkGHAuth, "GET /user", err))
		}
		return false
	}
	detail := "personal access token authenticates"
	if login := user.GetLogin(); login != "" {
		detail += " as " + login
	}
	r.add(Row{Check: checkGHAuth, State: OK, Detail: detail})
	return true
}

// checkPermissions: runners need repository Administration read/write (scale
// set and JIT runner registration on the repository) and, for organization
// runner groups, organization Self-hosted runners read/write.
func (r *runner) checkPermissions(ctx context.Context, owner, repo string) Row {
	groups := needsOrgGroups(r.in.Env)
	if r.appTr != nil {
		perms, err := r.appTr.Permissions()
		if err != nil {
			return errorRow(checkGHPerms, "installation permissions", err)
		}
		var lacking []string
		if perms.GetAdministration() != "write" {
			lacking = append(lacking, fmt.Sprintf("repository Administration read/write (has %q)", perms.GetAdministration()))
		}
		if len(groups) > 0 && perms.GetOrganizationSelfHostedRunners() != "write" {
			lacking = append(lacking, fmt.Sprintf("organization Self-hosted runners read/write for runner groups %s (has %q)", strings.Join(groups, ", "), perms.GetOrganizationSelfHostedRunners()))
		}
		if len(lacking) > 0 {
			return Row{Check: checkGHPerms, State: Wrong, Detail: "the App installation lacks " + strings.Join(lacking, "; "),
				Fix: "grant the permission in the App's settings, then approve the change on the organisation's installation page"}
		}
		return Row{Check: checkGHPerms, State: OK, Detail: "the App installation has the permissions runners need"}
	}
	// A token's permissions are not listed anywhere: probe read endpoints that
	// need them. Write access is not probed, since that would mint a registration token.
	var lacking []string
	if _, _, err := r.gh.Actions.ListRunners(ctx, owner, repo, &github.ListRunnersOptions{ListOptions: github.ListOptions{PerPage: 1}}); err != nil {
		switch Classify(err) {
		case KindDenied:
			lacking = append(lacking, "repository Administration (GET self-hosted runners of "+r.in.Env.Repository+" answered 403: "+errMessage(err)+")")
		case KindNotFound:
			lacking = append(lacking, "access to "+r.in.Env.Repository+" (GET self-hosted runners answered 404)")
		default:
			return errorRow(checkGHPerms, "GET /repos/{owner}/{repo}/actions/runners", err)
		}
	}
	if len(groups) > 0 {
		if _, _, err := r.gh.Actions.ListOrganizationRunnerGroups(ctx, owner, &github.ListOrgRunnerGroupOptions{ListOptions: github.ListOptions{PerPage: 1}}); err != nil {
			if Classify(err) != KindDenied && Classify(err) != KindNotFound {
				return errorRow(checkGHPerms, "GET /orgs/{org}/actions/runner-groups", err)
			}
			lacking = append(lacking, "organization Self-hosted runners (GET runner groups of "+owner+" answered "+errMessage(err)+")")
		}
	}
	if len(lacking) > 0 {
		return Row{Check: checkGHPerms, State: Wrong, Detail: "the token lacks " + strings.Join(lacking, "; "),
			Fix: "edit the fine-grained token: Repository permissions > Administration: Read and write; Organization permissions > Self-hosted runners: Read and write"}
	}
	return Row{Check: checkGHPerms, State: OK, Detail: "read probes passed (write access cannot be probed without side effects: make sure the token has read and write)"}
}

func (r *runner) checkRepository(ctx context.Context, owner, name string) Row {
	full := r.in.Env.Repository
	repo, _, err := r.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		if Classify(err) == KindNotFound {
			return Row{Check: checkGHRepo, State: Missing, Detail: full + " does not exist, or the credential cannot see it",
				Fix: "create the repository, or give the App installation (or the token) access to it"}
		}
		return errorRow(checkGHRepo, "GET /repos/"+full, err)
	}
	r.repo = repo
	if !repo.GetPrivate() {
		return Row{Check: checkGHRepo, State: Wrong, Detail: full + " is public: anyone could run code on runners inside the VPC",
			Fix: "make the repository private (Settings > General > Danger zone)"}
	}
	return Row{Check: checkGHRepo, State: OK, Detail: fmt.Sprintf("%s exists (private, id %d)", repo.GetFullName(), repo.GetID())}
}

func (r *runner) runnerGroups(ctx context.Context, org string) {
	seen := map[string]bool{}
	for _, p := range r.in.Env.Pools {
		if seen[strings.ToLower(p.RunnerGroup)] {
			continue
		}
		seen[strings.ToLower(p.RunnerGroup)] = true
		group := p.RunnerGroup
		if strings.EqualFold(group, config.DefaultRunnerGroup) {
			r.add(Row{Check: "runner group " + group, State: OK,
				Detail: "scale sets registered on the repository use its implicit Default group, which always admits it"})
			continue
		}
		r.do(ctx, func(ctx context.Context) Row { return r.checkGroup(ctx, org, group) },
			func(ctx context.Context, row Row) (string, error) { return r.fixGroup(ctx, org, group, row) })
	}
}

func (r *runner) findGroup(ctx context.Context, org, name string) (*github.RunnerGroup, error) {
	opts := &github.ListOrgRunnerGroupOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for g, err := range r.gh.Actions.ListOrganizationRunnerGroupsIter(ctx, org, opts) {
		if err != nil {
			return nil, err
		}
		if g.GetName() == name {
			return g, nil
		}
	}
	return nil, nil
}

func (r *runner) groupAdmits(ctx context.Context, org string, g *github.RunnerGroup) (bool, error) {
	if g.GetVisibility() != "selected" {
		return true, nil
	}
	for repo, err := range r.gh.Actions.ListRepositoryAccessRunnerGroupIter(ctx, org, g.GetID(), &github.ListOptions{PerPage: 100}) {
		if err != nil {
			return false, err
		}
		if repo.GetID() == r.repo.GetID() {
			return true, nil
		}
	}
	return false, nil
}

func (r *runner) checkGroup(ctx context.Context, org, name string) Row {
	check := "runner group " + name
	if r.repo == nil {
		return Row{Check: check, State: Error, Detail: "not checked: the repository could not be read", Fix: "fix the repository row first"}
	}
	g, err := r.findGroup(ctx, org, name)
	if err != nil {
		return errorRow(check, "GET /orgs/"+org+"/actions/runner-groups", err)
	}
	if g == nil {
		return Row{Check: check, State: Missing, Detail: fmt.Sprintf("organisation %s has no runner group %q", org, name),
			Fix: fmt.Sprintf("run apply (creates it, admitting only %s), or set the pools' runnerGroup to an existing group", r.in.Env.Repository)}
	}
	ok, err := r.groupAdmits(ctx, org, g)
	if err != nil {
		return errorRow(check, "GET runner group repositories", err)
	}
	if !ok {
		return Row{Check: check, State: Wrong, Detail: fmt.Sprintf("group %q (id %d) does not admit %s", name, g.GetID(), r.in.Env.Repository),
			Fix: "run apply (adds the repository to the group), or add it under Settings > Actions > Runner groups"}
	}
	return Row{Check: check, State: OK, Detail: fmt.Sprintf("group %q (id %d, visibility %s) admits %s", name, g.GetID(), g.GetVisibility(), r.in.Env.Repository)}
}

func (r *runner) fixGroup(ctx context.Context, org, name string, row Row) (string, error) {
	if r.repo == nil {
		return "", nil
	}
	g, err := r.findGroup(ctx, org, name)
	if err != nil {
		return "", err
	}
	if g == nil {
		if _, _, err := r.gh.Actions.CreateOrganizationRunnerGroup(ctx, org, github.CreateRunnerGroupRequest{
			Name: &name, Visibility: new("selected"), SelectedRepositoryIDs: []int64{r.repo.GetID()},
			AllowsPublicRepositories: new(false),
		}); err != nil {
			return "", fmt.Errorf("creating runner group %q: %w", name, err)
		}
		return fmt.Sprintf("created runner group %q admitting only %s", name, r.in.Env.Repository), nil
	}
	if _, err := r.gh.Actions.AddRepositoryAccessRunnerGroup(ctx, org, g.GetID(), r.repo.GetID()); err != nil {
		return "", fmt.Errorf("adding %s to runner group %q: %w", r.in.Env.Repository, name, err)
	}
	return fmt.Sprintf("added %s to runner group %q", r.in.Env.Repository, name), nil
}
