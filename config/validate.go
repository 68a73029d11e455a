package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

var (
	envNamePattern      = regexp.MustCompile(`^[a-z][a-z0-9-]{1,15}$`)
	accountPattern      = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern       = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
	vpcIDPattern        = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetIDPattern     = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	routeTablePattern   = regexp.MustCompile(`^rtb-([0-9a-f]{8}|[0-9a-f]{17})$`)
	repositoryPattern   = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	roleArnPattern      = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	principalArnPattern = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	oidcArnPattern      = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):oidc-provider/token\.actions\.githubusercontent\.com$`)
	subjectPattern      = regexp.MustCompile(`^(environment:[A-Za-z0-9._-]+|ref:refs/(heads|tags)/[A-Za-z0-9._/-]+|pull_request)$`)
	secretNamePattern   = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	ssmParamPattern     = regexp.MustCompile(`^/[A-Za-z0-9/_.-]+$`)
	exportNamePattern   = regexp.MustCompile(`^[A-Za-z0-9:-]{1,255}$`)
	sha256Pattern       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	amiIDPattern        = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	poolNamePattern     = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)
	scaleSetNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,45}$`)
	// Graviton families carry a "g" right after the generation digit: t4g, m7g, c7gd, r8g.
	armInstancePattern = regexp.MustCompile(`^[a-z]+[0-9]+g[a-z]*\.[0-9a-z]+$`)
	tagKeyPattern      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+@-]{1,128}$`)
	tagValuePattern    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+@-]{0,256}$`)
	emailPattern       = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// RequiredTags must be present on every environment.
var RequiredTags = []string{"CostCenter", "OwnerEmail"}

// ProdSubjects are the only OIDC subjects a prod environment accepts. Not the
// main branch: every job on main that names no environment (a schedule, a
// workflow_run or issue_comment handler) gets ref:refs/heads/main, so trusting
// it would let such a job deploy prod without the prod environment's reviewers.
var ProdSubjects = []string{"environment:prod"}

// logRetentionChoices are the values CloudWatch Logs accepts.
var logRetentionChoices = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// problems collects validation errors with the environment name in front.
type problems struct {
	env  string
	errs []error
}

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.env, field, fmt.Sprintf(format, args...)))
}

// Validate checks one environment (with defaults applied) and returns every
// problem at once, each naming the field and the fix.
func (e Environment) Validate() error {
	name := e.Name
	if name == "" {
		name = "(unnamed)"
	}
	p := &problems{env: name}
	e.validateIdentity(p)
	e.validateVpc(p)
	e.validateAccess(p)
	e.validateRunner(p)
	e.validatePools(p)
	e.validateAdmission(p)
	e.validateTags(p)
	e.validateCdkBootstrap(p)
	e.validateBudget(p)
	return errors.Join(p.errs...)
}

func (e Environment) validateIdentity(p *problems) {
	if !envNamePattern.MatchString(e.Name) {
		p.add("name", "%q is not a valid environment name; use 2-16 lowercase letters, digits or dashes, starting with a letter (for example dev)", e.Name)
	}
	if !accountPattern.MatchString(e.Account) {
		p.add("account", "%q is not a 12-digit AWS account id; set the account number, for example 449435941126", e.Account)
	}
	if !regionPattern.MatchString(e.Region) {
		p.add("region", "%q is not an AWS region; use a region name such as us-east-1", e.Region)
	}
	if !slices.Contains(logRetentionChoices, e.LogRetentionDays) {
		p.add("logRetentionDays", "%d is not a CloudWatch Logs retention; choose one of %v", e.LogRetentionDays, logRetentionChoices)
	}
	if e.AlarmEmail != "" && !emailPattern.MatchString(e.AlarmEmail) {
		p.add("alarmEmail", "%q is not an email address; set an address or remove the field", e.AlarmEmail)
	}
}

func (e Environment) validateVpc(p *problems) {
	v := e.Vpc
	switch {
	case v.ExportPrefix != "" && v.ID != "":
		p.add("vpc.id", "set together with vpc.exportPrefix; name the VPC by id or by its exports, not both")
	case v.ExportPrefix != "":
		if !exportNamePattern.MatchString(v.ExportPrefix) {
			p.add("vpc.exportPrefix", "%q is not a CloudFormation export prefix; use <region>-<vpc stack>, for example %s-synapse-ops-vpc-v2", v.ExportPrefix, e.Region)
		}
		if v.RouteTableExport != "" && !exportNamePattern.MatchString(v.RouteTableExport) {
			p.add("vpc.routeTableExport", "%q is not an export name; use the name after the prefix, for example PrivateRouteTable", v.RouteTableExport)
		}
	case v.ID == "":
		p.add("vpc.id", "missing; set the id of the existing VPC the runners run in (vpc-...), or name it by its stack's exports with vpc.exportPrefix")
	case v.ID != PlaceholderSubnetID && !vpcIDPattern.MatchString(v.ID):
		p.add("vpc.id", "%q is not a VPC id; use the form vpc-0123456789abcdef0, or %q while unknown", v.ID, PlaceholderSubnetID)
	}
	if v.ExportPrefix == "" && v.RouteTableExport != "" {
		p.add("vpc.routeTableExport", "only applies with vpc.exportPrefix; set the prefix or remove the field")
	}
	if len(v.AvailabilityZones) == 0 {
		p.add("vpc.availabilityZones", "missing; list the zones of the private subnets, for example [\"%sc\"]", e.Region)
	}
	for i, az := range v.AvailabilityZones {
		// A zone is the region plus one letter: us-east-1c, never us-east-11.
		if !strings.HasPrefix(az, e.Region) || len(az) != len(e.Region)+1 || az[len(az)-1] < 'a' || az[len(az)-1] > 'z' {
			p.add(fmt.Sprintf("vpc.availabilityZones[%d]", i), "%q is not a zone of region %s; use %s followed by a letter", az, e.Region, e.Region)
		}
	}
	if len(v.PrivateSubnets) == 0 {
		p.add("vpc.privateSubnets", "missing; list at least one private subnet (id or export, and availabilityZone), or \"TODO\" ids until they are known")
	}
	seen := map[string]bool{}
	for i, s := range v.PrivateSubnets {
		field := fmt.Sprintf("vpc.privateSubnets[%d]", i)
		if v.UsesExports() {
			switch {
			case s.ID != "" || s.RouteTableID != "":
				p.add(field+".id", "a VPC named by exports names its subnets by export; replace id and routeTableId with \"export\", for example PrivateSubnet1")
			case !exportNamePattern.MatchString(s.Export):
				p.add(field+".export", "%q is not an export name; use the name after vpc.exportPrefix, for example PrivateSubnet1", s.Export)
			case seen[s.Export]:
				p.add(field+".export", "%q is listed twice; list each subnet once", s.Export)
			}
			seen[s.Export] = true
		} else {
			if s.Export != "" {
				p.add(field+".export", "only applies with vpc.exportPrefix; set the prefix or use the subnet id")
			}
			if s.ID != PlaceholderSubnetID && !subnetIDPattern.MatchString(s.ID) {
				p.add(field+".id", "%q is not a subnet id; use the form subnet-0123456789abcdef0, or %q while unknown", s.ID, PlaceholderSubnetID)
			}
			if s.ID != PlaceholderSubnetID && seen[s.ID] {
				p.add(field+".id", "%q is listed twice; list each subnet once", s.ID)
			}
			seen[s.ID] = true
			if s.RouteTableID != "" && !routeTablePattern.MatchString(s.RouteTableID) {
				p.add(field+".routeTableId", "%q is not a route table id; use the form rtb-0123456789abcdef0 or remove the field", s.RouteTableID)
			}
		}
		if !slices.Contains(v.AvailabilityZones, s.AvailabilityZone) {
			p.add(field+".availabilityZone", "%q is not in vpc.availabilityZones %v; add the zone there or fix the subnet's zone", s.AvailabilityZone, v.AvailabilityZones)
		}
	}
}

func (e Environment) validateAccess(p *problems) {
	if !validRepository(e.Repository) {
		p.add("repository", "%q is not a GitHub repository; use owner/name, for example Sage-Bionetworks/synapse-ops-dev", e.Repository)
	}
	// An origin only: jobs append /repo/v1/..., so a trailing slash, path, query
	// or credentials in the URL would all produce a wrong request.
	if u, err := url.Parse(e.SynapseHost); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" {
		p.add("synapseHost", "%q is not an https origin; use the form https://repo-dev.dev.sagebase.org", e.SynapseHost)
	} else if u.User != nil {
		// https://repo-prod.prod.sagebase.org@evil.example would send the admin token to evil.example.
		p.add("synapseHost", "%q has user info before \"@\", so requests would go to %s; use the form https://repo-dev.dev.sagebase.org", e.SynapseHost, u.Host)
	} else if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(e.SynapseHost, "?#") {
		p.add("synapseHost", "%q has a query or a fragment; use the bare origin, for example https://repo-dev.dev.sagebase.org", e.SynapseHost)
	}
	if m := roleArnPattern.FindStringSubmatch(e.DeploymentRoleArn); m == nil {
		p.add("deploymentRoleArn", "%q is not an IAM role ARN; use arn:aws:iam::<account>:role/<name>", e.DeploymentRoleArn)
	} else if m[1] != e.Account {
		p.add("deploymentRoleArn", "role is in account %s, not this environment's account %s; use this account's deployment role", m[1], e.Account)
	}

	o := e.GitHubOidc
	if o.CreateProvider && o.ProviderArn != "" {
		p.add("githubOidc.providerArn", "set together with createProvider; remove providerArn to create the provider, or createProvider to import it")
	}
	if o.ProviderArn != "" {
		if m := oidcArnPattern.FindStringSubmatch(o.ProviderArn); m == nil {
			p.add("githubOidc.providerArn", "%q is not the ARN of a token.actions.githubusercontent.com provider; use arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com", o.ProviderArn)
		} else if m[1] != e.Account {
			p.add("githubOidc.providerArn", "provider is in account %s, not %s; use this account's provider", m[1], e.Account)
		}
	}
	if o.ProviderArn == "" && !o.CreateProvider && accountPattern.MatchString(e.Account) {
		p.add("githubOidc.providerArn", "missing; set the ARN of this account's token.actions.githubusercontent.com provider, or createProvider for a brand-new account")
	}
	if len(o.Subjects) == 0 {
		p.add("githubOidc.subjects", "missing; list the subjects allowed to deploy, for example [\"ref:refs/heads/main\"]")
	}
	for i, s := range o.Subjects {
		field := fmt.Sprintf("githubOidc.subjects[%d]", i)
		switch {
		case strings.ContainsAny(s, "*?"):
			p.add(field, "%q contains a wildcard; name one environment or branch, for example environment:%s", s, e.Name)
		case !subjectPattern.MatchString(s):
			p.add(field, "%q is not a GitHub OIDC subject suffix; use environment:<name>, ref:refs/heads/<branch>, ref:refs/tags/<tag> or pull_request", s)
		case e.Name == "prod" && !slices.Contains(ProdSubjects, s):
			p.add(field, "%q is not allowed for prod: any job of the repository that names no environment (on main too: a schedule, a workflow_run or issue_comment handler) could present it and deploy without the prod environment's reviewers; use environment:prod only", s)
		}
	}
	if o.ReviewRepository != "" && !validRepository(o.ReviewRepository) {
		p.add("githubOidc.reviewRepository", "%q is not a GitHub repository; use owner/name or remove the field", o.ReviewRepository)
	}

	if !secretNamePattern.MatchString(e.AdminToken.SecretName) {
		p.add("adminToken.secretName", "%q is not a Secrets Manager name; use letters, digits and /_+=.@-", e.AdminToken.SecretName)
	}
	for i, a := range e.AdminToken.AdminPrincipalArns {
		if !principalArnPattern.MatchString(a) {
			p.add(fmt.Sprintf("adminToken.adminPrincipalArns[%d]", i), "%q is not an IAM role or user ARN; use arn:aws:iam::<account>:role/<name>", a)
		}
	}
	for i, a := range e.GitHubCredential.AdminPrincipalArns {
		if !principalArnPattern.MatchString(a) {
			p.add(fmt.Sprintf("githubCredential.adminPrincipalArns[%d]", i), "%q is not an IAM role or user ARN; use arn:aws:iam::<account>:role/<name>", a)
		}
	}
	if !secretNamePattern.MatchString(e.GitHubCredential.SecretName) {
		p.add("githubCredential.secretName", "%q is not a Secrets Manager name; use letters, digits and /_+=.@-", e.GitHubCredential.SecretName)
	}
	if e.GitHubCredential.SecretName == e.AdminToken.SecretName {
		p.add("githubCredential.secretName", "same secret as adminToken.secretName; runners may read the admin token but never the GitHub credential, so use a separate secret")
	}
	if k := e.GitHubCredential.Kind; k != "app" && k != "pat" {
		p.add("githubCredential.kind", "%q is not a credential kind; use app (GitHub App, preferred) or pat", k)
	}
	if e.Controller.InstanceType != "" && !armInstancePattern.MatchString(e.Controller.InstanceType) {
		p.add("controller.instanceType", "%q is not an arm64 (Graviton) instance type; use one such as t4g.small", e.Controller.InstanceType)
	}
}

func (e Environment) validateRunner(p *problems) {
	r := e.Runner
	floor, floorErr := semver.StrictNewVersion(r.MinimumVersion)
	switch {
	case r.MinimumVersion == "":
		p.add("runner.minimumVersion", "missing; set the floor release instances use until the controller publishes one, at least %s", MinRunnerVersion)
	case floorErr != nil:
		p.add("runner.minimumVersion", "%q is not a runner release; use the actions/runner version without v, for example %s", r.MinimumVersion, MinRunnerVersion)
	case floor.LessThan(semver.MustParse(MinRunnerVersion)):
		p.add("runner.minimumVersion", "%s is older than %s, which GitHub refuses to register; raise it to a current release with its SHA-256", r.MinimumVersion, MinRunnerVersion)
	}
	if !sha256Pattern.MatchString(r.MinimumSHA256) {
		p.add("runner.minimumSha256", "%q is not a SHA-256; copy the 64 lowercase hex digits of actions-runner-linux-arm64-%s.tar.gz from the release page", r.MinimumSHA256, r.MinimumVersion)
	}
	if r.AdoptAfterDays < 1 || r.AdoptAfterDays > MaxAdoptAfterDays {
		p.add("runner.adoptAfterDays", "%d is outside 1..%d days; GitHub stops runners that lag a release by 30 days", r.AdoptAfterDays, MaxAdoptAfterDays)
	}
	if r.Version != "" || r.SHA256 != "" {
		pin, err := semver.StrictNewVersion(r.Version)
		switch {
		case err != nil:
			p.add("runner.version", "%q is not a runner release; use the actions/runner version without v, for example 2.335.1, or remove the pin", r.Version)
		case floorErr == nil && pin.LessThan(floor):
			p.add("runner.version", "pin %s is older than runner.minimumVersion %s; pin a newer release or remove the pin", r.Version, r.MinimumVersion)
		}
		if !sha256Pattern.MatchString(r.SHA256) {
			p.add("runner.sha256", "%q is not a SHA-256; a pin needs the 64 lowercase hex digits of actions-runner-linux-arm64-%s.tar.gz from the release page", r.SHA256, r.Version)
		}
	}
	if r.AmiID != "" && r.AmiSsmParameter != "" {
		p.add("runner.amiId", "set together with runner.amiSsmParameter; keep only one of them")
	}
	if r.AmiID != "" && !amiIDPattern.MatchString(r.AmiID) {
		p.add("runner.amiId", "%q is not an AMI id; use the form ami-0123456789abcdef0", r.AmiID)
	}
	if r.AmiSsmParameter != "" && !ssmParamPattern.MatchString(r.AmiSsmParameter) {
		p.add("runner.amiSsmParameter", "%q is not an SSM parameter path; use a path such as %s", r.AmiSsmParameter, DefaultAmiSsmParameter)
	}
}

func (e Environment) validatePools(p *problems) {
	if len(e.Pools) == 0 {
		p.add("pools", "missing; define at least the default pool")
	}
	names := map[string]bool{}
	scaleSets := map[string]bool{}
	for i, pool := range e.Pools {
		f := func(name string) string { return fmt.Sprintf("pools[%d].%s", i, name) }
		if !poolNamePattern.MatchString(pool.Name) {
			p.add(f("name"), "%q is not a pool name; use 1-16 lowercase letters or digits, starting with a letter (default, long)", pool.Name)
		}
		if names[pool.Name] {
			p.add(f("name"), "%q is used by another pool; give each pool its own name", pool.Name)
		}
		names[pool.Name] = true
		if !scaleSetNamePattern.MatchString(pool.ScaleSetName) {
			p.add(f("scaleSetName"), "%q is not a scale set name; use 1-45 letters, digits, dots, dashes or underscores", pool.ScaleSetName)
		}
		if scaleSets[pool.ScaleSetName] {
			p.add(f("scaleSetName"), "%q is used by another pool; each pool needs its own scale set", pool.ScaleSetName)
		}
		scaleSets[pool.ScaleSetName] = true
		if strings.TrimSpace(pool.RunnerGroup) == "" {
			p.add(f("runnerGroup"), "empty; name the GitHub runner group, or remove the field for Default")
		}
		if pool.Kind != PoolKindStandard && pool.Kind != PoolKindLong {
			p.add(f("kind"), "%q is not a pool kind; use %s or %s", pool.Kind, PoolKindStandard, PoolKindLong)
		}
		if len(pool.InstanceTypes) == 0 {
			p.add(f("instanceTypes"), "empty; list at least one arm64 instance type, for example [\"m7g.large\"]")
		}
		for j, it := range pool.InstanceTypes {
			if !armInstancePattern.MatchString(it) {
				p.add(fmt.Sprintf("pools[%d].instanceTypes[%d]", i, j), "%q is not an arm64 (Graviton) instance type; runners use arm64 images, so pick one such as m7g.large", it)
			}
		}
		// Each message names the field that is wrong: a negative min is the
		// min's fault, not the max's.
		switch {
		case pool.Max < 1:
			p.add(f("max"), "min %d and max %d must satisfy 0 <= min and 1 <= max", pool.Min, pool.Max)
		case pool.Min < 0:
			p.add(f("min"), "%d is negative; use 0 or more", pool.Min)
		case pool.Min > pool.Max:
			p.add(f("min"), "min %d is greater than max %d; lower min or raise max", pool.Min, pool.Max)
		}
		if pool.MinIdle < 0 || pool.MinIdle > pool.Max {
			p.add(f("minIdle"), "%d is outside 0..max (%d); keep minIdle at most max", pool.MinIdle, pool.Max)
		}
		if pool.WarmPoolSize < 0 || pool.WarmPoolSize > pool.Max {
			p.add(f("warmPoolSize"), "%d is outside 0..max (%d); keep the warm pool at most max", pool.WarmPoolSize, pool.Max)
		}
		// Auto Scaling refuses a warm pool on a group with spot or a mixed
		// instances policy, so such a pool launches one on-demand type.
		if pool.WarmPoolSize > 0 && pool.Spot {
			p.add(f("warmPoolSize"), "a warm pool cannot hold spot instances (an Auto Scaling limit); set spot to false or warmPoolSize to 0")
		}
		if pool.WarmPoolSize > 0 && len(pool.InstanceTypes) > 1 {
			p.add(f("instanceTypes"), "a pool with a warm pool launches a single instance type (Auto Scaling refuses warm pools with mixed instances); keep one type or set warmPoolSize to 0")
		}
		if pool.OnDemandBaseCapacity < 0 || pool.OnDemandBaseCapacity > pool.Max {
			p.add(f("onDemandBaseCapacity"), "%d is outside 0..max (%d)", pool.OnDemandBaseCapacity, pool.Max)
		}
		if pool.OnDemandBaseCapacity > 0 && !pool.Spot {
			p.add(f("onDemandBaseCapacity"), "only applies to spot pools; set spot to true or remove the field")
		}
		if pool.VolumeSizeGiB < 8 || pool.VolumeSizeGiB > 16384 {
			p.add(f("volumeSizeGiB"), "%d is outside 8..16384 GiB", pool.VolumeSizeGiB)
		}
		for j, pkg := range pool.Packages {
			if !slices.Contains(KnownPackages, pkg) {
				p.add(fmt.Sprintf("pools[%d].packages[%d]", i, j), "%q is not a package the boot script installs; choose from %v", pkg, KnownPackages)
			}
		}
		if pool.BootGraceMinutes < 1 || pool.BootGraceMinutes > 60 {
			p.add(f("bootGraceMinutes"), "%d is outside 1..60 minutes", pool.BootGraceMinutes)
		}
		if pool.NoJobTimeoutMinutes < 1 || pool.NoJobTimeoutMinutes > 24*60 {
			p.add(f("noJobTimeoutMinutes"), "%d is outside 1..1440 minutes", pool.NoJobTimeoutMinutes)
		}
		if pool.MaxRuntimeHours < 1 || pool.MaxRuntimeHours > 72 {
			p.add(f("maxRuntimeHours"), "%d is outside 1..72 hours", pool.MaxRuntimeHours)
		}
		if hold := pool.TerminateHookHold(); pool.MaxRuntimeHours >= 1 && time.Duration(pool.MaxRuntimeHours)*time.Hour+maxRuntimeGrace > hold {
			fix := "use at most %d"
			if !pool.IsLong() {
				fix += ", or kind long (its hook holds 48 h)"
			}
			p.add(f("maxRuntimeHours"), "%d h plus the watchdog's 15-minute grace is longer than the terminate hook can hold a busy runner (min(100 x %s heartbeat timeout, 48 h) = %d h); "+fix,
				pool.MaxRuntimeHours, hookTimeoutText(pool.TerminateHookTimeout()), int(hold/time.Hour), int((hold-maxRuntimeGrace)/time.Hour))
		}
		if pool.MaxInstanceLifetimeHours != 0 && (pool.MaxInstanceLifetimeHours < 24 || pool.MaxInstanceLifetimeHours > 8760) {
			p.add(f("maxInstanceLifetimeHours"), "%d is outside 24..8760 hours (an Auto Scaling limit); use 0 for none", pool.MaxInstanceLifetimeHours)
		}
		if pool.IsLong() {
			if pool.Spot {
				p.add(f("spot"), "a long pool cannot use spot: an interruption would kill a 30-hour task; set spot to false")
			}
			if pool.MaxInstanceLifetimeHours != 0 {
				p.add(f("maxInstanceLifetimeHours"), "a long pool must not replace instances by age; set it to 0")
			}
			if pool.MaxRuntimeHours < MinLongMaxRuntimeHours {
				p.add(f("maxRuntimeHours"), "%d is below %d hours; a long pool must outlive a 30-hour task", pool.MaxRuntimeHours, MinLongMaxRuntimeHours)
			}
		}
	}
}

func (e Environment) validateTags(p *problems) {
	for _, k := range RequiredTags {
		if strings.TrimSpace(e.Tags[k]) == "" {
			p.add("tags."+k, "missing; every resource must carry %s, for example %q", k, exampleTag(k))
		}
	}
	keys := make([]string, 0, len(e.Tags))
	for k := range e.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := e.Tags[k]
		switch {
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			p.add("tags."+k, "keys starting with aws: are reserved by AWS; rename the tag")
		case !tagKeyPattern.MatchString(k):
			p.add("tags."+k, "is not a valid tag key; use at most 128 letters, digits, spaces and _.:/=+-@")
		case !tagValuePattern.MatchString(v):
			p.add("tags."+k, "%q is not a valid tag value; use at most 256 letters, digits, spaces and _.:/=+-@", v)
		}
	}
	// A blank address is already reported as missing above: say it once.
	if v := e.Tags["OwnerEmail"]; strings.TrimSpace(v) != "" && !emailPattern.MatchString(v) {
		p.add("tags.OwnerEmail", "%q is not an email address; use the owning team's address", v)
	}
}

// validRepository reports whether s is "owner/name" as GitHub accepts it; the
// pattern alone would let the reserved names "." and ".." through.
func validRepository(s string) bool {
	if !repositoryPattern.MatchString(s) {
		return false
	}
	_, name, _ := strings.Cut(s, "/")
	return name != "." && name != ".."
}

func exampleTag(k string) string {
	if k == "OwnerEmail" {
		return "synapseeng@sagebase.org"
	}
	return "Platform Infrastructure / 990300"
}

// ValidateAll checks each environment and the rules that span environments:
// unique names and accounts, and no ops repository shared between two
// environments (a dev repository must never be able to assume a prod role).
func ValidateAll(envs []Environment) error {
	var errs []error
	if len(envs) == 0 {
		errs = append(errs, errors.New("no environments configured; add environments/<name>.json"))
	}
	accounts := map[string]string{}
	repos := map[string]string{}
	names := map[string]bool{}
	for _, e := range envs {
		if err := e.Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[e.Name] {
			errs = append(errs, fmt.Errorf("%s: name: defined twice; each environment needs its own name", e.Name))
		}
		names[e.Name] = true
		if other, ok := accounts[e.Account]; ok && e.Account != "" {
			errs = append(errs, fmt.Errorf("%s: account: %s is also the account of %s; dev and prod must never share an account", e.Name, e.Account, other))
		} else {
			accounts[e.Account] = e.Name
		}
		repo := strings.ToLower(e.Repository)
		if other, ok := repos[repo]; ok && repo != "" {
			errs = append(errs, fmt.Errorf("%s: repository: %s is also the repository of %s; each environment needs its own ops repository", e.Name, e.Repository, other))
		} else {
			repos[repo] = e.Name
		}
	}
	return errors.Join(errs...)
}

var qualifierPattern = regexp.MustCompile(`^[a-z0-9]{1,10}$`)

func (e Environment) validateCdkBootstrap(p *problems) {
	b := e.CdkBootstrap
	if !qualifierPattern.MatchString(b.Qualifier) {
		p.add("cdkBootstrap.qualifier", "%q is not a CDK qualifier; use up to 10 lowercase letters or digits (default hnb659fds)", b.Qualifier)
	}
	if b.MinVersion < 1 {
		p.add("cdkBootstrap.minVersion", "%d is not a bootstrap version; use a positive number such as 6", b.MinVersion)
	}
	for i, a := range b.TrustAccounts {
		if !accountPattern.MatchString(a) {
			p.add(fmt.Sprintf("cdkBootstrap.trustAccounts[%d]", i), "%q is not a 12-digit AWS account id", a)
		}
	}
	for i, a := range b.ExecutionPolicyArns {
		if !strings.HasPrefix(a, "arn:aws:iam::") || !strings.Contains(a, ":policy/") {
			p.add(fmt.Sprintf("cdkBootstrap.executionPolicyArns[%d]", i), "%q is not an IAM policy ARN; use arn:aws:iam::aws:policy/<name> or arn:aws:iam::<account>:policy/<name>", a)
		}
	}
}

// maxMonthlyUsd bounds the budget to catch a value typed in cents.
const maxMonthlyUsd = 100000

func (e Environment) validateBudget(p *problems) {
	if m := e.Budget.MonthlyUsd; m < 1 || m > maxMonthlyUsd {
		p.add("budget.monthlyUsd", "%d is outside 1..%d US dollars; set the fleet's expected monthly cost with some headroom, for example 300", m, maxMonthlyUsd)
	}
}
