package config_test

import (
	"reflect"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// TestValidateAdmission_GivenOneBadEntry_ThenExactMessage mutates the admission
// of a valid environment, as a user edits the file, and asserts the whole
// message: environment, field path, what is wrong and the fix.
func TestValidateAdmission_GivenOneBadEntry_ThenExactMessage(t *testing.T) {
	const form = "owner/repository/.github/workflows/<file>.yml@refs/heads/<branch>"
	cases := []struct {
		name   string
		prod   bool
		mutate func(e *config.Environment)
		want   string
	}{
		{
			name:   "GivenNoAdmission_ThenEveryListMissing",
			mutate: func(e *config.Environment) { e.Admission = config.Admission{} },
			want: `dev: admission.workflows: missing; list at least one entry (` + form + `): an empty list admits no job` + "\n" +
				`dev: admission.events: missing; list at least one entry (a GitHub event name such as workflow_dispatch or schedule): an empty list admits no job` + "\n" +
				`dev: admission.branches: missing; list at least one entry (the short branch name the run's head_branch holds, such as main (not refs/heads/main)): an empty list admits no job` + "\n" +
				`dev: admission.repositories: missing; list at least one entry (owner/name, such as Sage-Bionetworks/synapse-ops-prod): an empty list admits no job`,
		},
		{
			name:   "GivenShortRefInWorkflow_ThenRefMustBeFull",
			mutate: func(e *config.Environment) { e.Admission.Workflows = []string{coreRunTask + "@main"} },
			want:   `dev: admission.workflows[0]: "` + coreRunTask + `@main" is not well-formed; use ` + form,
		},
		{
			name: "GivenWorkflowOutsideWorkflowsDirectory_ThenRefused",
			mutate: func(e *config.Environment) {
				e.Admission.Workflows = []string{"Sage-Bionetworks/synapse-ops-core/run-task.yml@refs/heads/main"}
			},
			want: `dev: admission.workflows[0]: "Sage-Bionetworks/synapse-ops-core/run-task.yml@refs/heads/main" is not well-formed; use ` + form,
		},
		{
			name:   "GivenWildcardInProdWorkflow_ThenRefused",
			prod:   true,
			mutate: func(e *config.Environment) { e.Admission.Workflows = []string{coreRunTask + "@refs/heads/*"} },
			want:   `prod: admission.workflows[0]: "` + coreRunTask + `@refs/heads/*" contains a wildcard; prod admits exact entries only: use ` + form,
		},
		{
			name:   "GivenWildcardInProdBranch_ThenRefused",
			prod:   true,
			mutate: func(e *config.Environment) { e.Admission.Branches = []string{"main*"} },
			want:   `prod: admission.branches[0]: "main*" contains a wildcard; prod admits exact entries only: use the short branch name the run's head_branch holds, such as main (not refs/heads/main)`,
		},
		{
			name:   "GivenWildcardInProdRepository_ThenRefused",
			prod:   true,
			mutate: func(e *config.Environment) { e.Admission.Repositories = []string{"Sage-Bionetworks/*"} },
			want:   `prod: admission.repositories[0]: "Sage-Bionetworks/*" contains a wildcard; prod admits exact entries only: use owner/name, such as Sage-Bionetworks/synapse-ops-prod`,
		},
		{
			name:   "GivenPushEventInProd_ThenRefused",
			prod:   true,
			mutate: func(e *config.Environment) { e.Admission.Events = []string{"workflow_dispatch", "push"} },
			want:   `prod: admission.events[1]: "push" is not admitted in prod; prod runs only [schedule workflow_dispatch]: a job must be dispatched or scheduled from reviewed code`,
		},
		{
			name:   "GivenUnknownEvent_ThenRefused",
			mutate: func(e *config.Environment) { e.Admission.Events = []string{"workflow-dispatch"} },
			want:   `dev: admission.events[0]: "workflow-dispatch" is not well-formed; use a GitHub event name such as workflow_dispatch or schedule`,
		},
		{
			name:   "GivenFullRefAsBranch_ThenShortNameAsked",
			mutate: func(e *config.Environment) { e.Admission.Branches = []string{"refs/heads/main"} },
			want:   `dev: admission.branches[0]: "refs/heads/main" is not well-formed; use the short branch name the run's head_branch holds, such as main (not refs/heads/main)`,
		},
		{
			name:   "GivenQuestionMarkPattern_ThenOnlyStarAllowed",
			mutate: func(e *config.Environment) { e.Admission.Branches = []string{"ma?n"} },
			want:   `dev: admission.branches[0]: "ma?n" holds a pattern character; only * is a wildcard: use the short branch name the run's head_branch holds, such as main (not refs/heads/main)`,
		},
		{
			name:   "GivenRepositoryWithoutOwner_ThenRefused",
			mutate: func(e *config.Environment) { e.Admission.Repositories = []string{"synapse-ops-dev"} },
			want:   `dev: admission.repositories[0]: "synapse-ops-dev" is not well-formed; use owner/name, such as Sage-Bionetworks/synapse-ops-prod`,
		},
		{
			name:   "GivenDuplicateEvent_ThenRefused",
			mutate: func(e *config.Environment) { e.Admission.Events = []string{"schedule", "schedule"} },
			want:   `dev: admission.events[1]: "schedule" is listed twice; list each entry once`,
		},
		{
			name:   "GivenWildcardWithoutNote_ThenNoteAsked",
			mutate: func(e *config.Environment) { e.Admission.Note = " " },
			want:   `dev: admission.note: missing; an admission entry holds a wildcard, so say in admission.note why this environment admits more than exact entries`,
		},
		{
			name:   "GivenWaitTooShort_ThenRefused",
			mutate: func(e *config.Environment) { e.Admission.WaitSeconds = 5 },
			want:   `dev: admission.waitSeconds: 5 is outside 10..600 seconds; remove the field for the default 60`,
		},
		{
			name:   "GivenEmptyPoolOverride_ThenRefused",
			mutate: func(e *config.Environment) { e.Pools[1].Admission = &config.PoolAdmission{Events: []string{}} },
			want:   `dev: pools[1].admission.events: empty; an empty list admits no job; list entries (a GitHub event name such as workflow_dispatch or schedule) or remove the field to use the environment's`,
		},
		{
			name:   "GivenWildcardInProdPoolOverride_ThenRefused",
			prod:   true,
			mutate: func(e *config.Environment) { e.Pools[1].Admission = &config.PoolAdmission{Branches: []string{"*"}} },
			want:   `prod: pools[1].admission.branches[0]: "*" contains a wildcard; prod admits exact entries only: use the short branch name the run's head_branch holds, such as main (not refs/heads/main)`,
		},
		{
			name: "GivenPullRequestEventInProdPoolOverride_ThenRefused",
			prod: true,
			mutate: func(e *config.Environment) {
				e.Pools[0].Admission = &config.PoolAdmission{Events: []string{"pull_request"}}
			},
			want: `prod: pools[0].admission.events[0]: "pull_request" is not admitted in prod; prod runs only [schedule workflow_dispatch]: a job must be dispatched or scheduled from reviewed code`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := rawDev()
			if c.prod {
				e = rawProd()
			}
			c.mutate(&e)
			if got := errText(e.WithDefaults().Validate()); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestValidateAdmission_GivenCommittedShapes_ThenValid(t *testing.T) {
	for name, e := range map[string]config.Environment{"dev": rawDev(), "prod": rawProd()} {
		if err := e.WithDefaults().Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A pool may narrow prod further with exact entries.
	e := rawProd()
	e.Pools[1].Admission = &config.PoolAdmission{Events: []string{"workflow_dispatch"}}
	if err := e.WithDefaults().Validate(); err != nil {
		t.Errorf("narrower prod pool: %v", err)
	}
}

func TestAdmissionFor_GivenPoolOverride_ThenListReplacedNotMerged(t *testing.T) {
	e := rawProd()
	e.Pools[1].Admission = &config.PoolAdmission{Events: []string{"workflow_dispatch"}}
	e = e.WithDefaults()

	got := e.AdmissionFor(e.Pools[1])
	want := config.AdmissionPolicy{
		Workflows:    []string{coreRunTask + "@refs/heads/main"},
		Events:       []string{"workflow_dispatch"},
		Branches:     []string{"main"},
		Repositories: []string{"Sage-Bionetworks/synapse-ops-prod"},
		WaitSeconds:  60,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("long pool: got %+v, want %+v", got, want)
	}
	if def := e.AdmissionFor(e.Pools[0]); !reflect.DeepEqual(def.Events, []string{"workflow_dispatch", "schedule"}) {
		t.Errorf("default pool events %v, want the environment's", def.Events)
	}
	// The policy is a copy: changing it must not change the environment.
	got.Events[0] = "push"
	if e.Pools[1].Admission.Events[0] != "workflow_dispatch" {
		t.Error("AdmissionFor shares its slices with the environment")
	}
}

func TestDecode_GivenPoolAdmissionWithUnknownField_ThenRefused(t *testing.T) {
	data := mustJSON(t, rawDev())
	data = []byte(replaceOnce(t, string(data), `"name": "long",`, `"name": "long", "admission": {"event": ["push"]},`))
	if _, err := config.Decode(data); err == nil {
		t.Fatal("a misspelt pool admission field was accepted")
	}
}
