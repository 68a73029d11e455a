package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// replaceOnce edits the base document and fails the test if the text to
// replace is not there exactly once, so a change of the base cannot turn a
// bad-config case into a silent copy of the valid one.
func replaceOnce(t *testing.T, doc, old, new string) string {
	t.Helper()
	if n := strings.Count(doc, old); n != 1 {
		t.Fatalf("base document holds %q %d times, want 1:\n%s", old, n, doc)
	}
	return strings.Replace(doc, old, new, 1)
}

// TestDecode_GivenBadDocument_ThenExactMessage covers what only the JSON text
// can get wrong: names, types, structure.
func TestDecode_GivenBadDocument_ThenExactMessage(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, doc string) string
		want string
	}{
		{
			name: "GivenMisspelledTopLevelField_WhenDecoded_ThenFieldNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"account": "449435941126"`, `"acount": "449435941126"`)
			},
			want: `unknown field "acount"; check its spelling against the README's configuration reference`,
		},
		{
			name: "GivenMisspelledPoolField_WhenDecoded_ThenFieldNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"spot": true`, `"spot": true, "maxInstances": 3`)
			},
			want: `unknown field "maxInstances"; check its spelling against the README's configuration reference`,
		},
		{
			// encoding/json alone would accept this as "account".
			name: "GivenFieldInWrongCase_WhenDecoded_ThenExactSpellingRequired",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"account": "449435941126"`, `"Account": "449435941126"`)
			},
			want: `unknown field "Account"; field names are case-sensitive, write "account"`,
		},
		{
			name: "GivenNestedFieldInWrongCase_WhenDecoded_ThenPathNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"spot": true`, `"Spot": true`)
			},
			want: `unknown field "pools[0].Spot"; field names are case-sensitive, write "spot"`,
		},
		{
			// encoding/json alone would keep the last value: a stray line could
			// silently move an environment to another account.
			name: "GivenAccountGivenTwice_WhenDecoded_ThenDuplicateRefused",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"account": "449435941126",`, `"account": "449435941126", "account": "325565585839",`)
			},
			want: `account: given twice; keep one value`,
		},
		{
			name: "GivenTagGivenTwice_WhenDecoded_ThenDuplicateRefused",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"CostCenter": "Platform Infrastructure / 990300"`, `"CostCenter": "x", "CostCenter": "Platform Infrastructure / 990300"`)
			},
			want: `tags.CostCenter: given twice; keep one value`,
		},
		{
			name: "GivenPoolMaxGivenTwice_WhenDecoded_ThenIndexedPathNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"max": 3`, `"max": 3, "max": 30`)
			},
			want: `pools[1].max: given twice; keep one value`,
		},
		{
			name: "GivenMaxAsString_WhenDecoded_ThenFieldAndTypeNamed",
			edit: func(t *testing.T, doc string) string { return replaceOnce(t, doc, `"max": 10`, `"max": "10"`) },
			want: `pools[0].max: expected a whole number, got a JSON string`,
		},
		{
			// encoding/json alone says pools.max, which does not say which pool.
			name: "GivenTwoWrongTypes_WhenDecoded_ThenBothNamedWithTheirIndex",
			edit: func(t *testing.T, doc string) string {
				doc = replaceOnce(t, doc, `"max": 3`, `"max": "3"`)
				return replaceOnce(t, doc, `"spot": true`, `"spot": 1`)
			},
			want: "pools[0].spot: expected true or false, got a JSON number\npools[1].max: expected a whole number, got a JSON string",
		},
		{
			name: "GivenFractionalMax_WhenDecoded_ThenFieldAndTypeNamed",
			edit: func(t *testing.T, doc string) string { return replaceOnce(t, doc, `"max": 10`, `"max": 1.5`) },
			want: `pools[0].max: expected a whole number, got a JSON number 1.5`,
		},
		{
			name: "GivenSpotAsString_WhenDecoded_ThenFieldAndTypeNamed",
			edit: func(t *testing.T, doc string) string { return replaceOnce(t, doc, `"spot": true`, `"spot": "yes"`) },
			want: `pools[0].spot: expected true or false, got a JSON string`,
		},
		{
			name: "GivenRepositoryAsArray_WhenDecoded_ThenFieldAndTypeNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"repository": "Sage-Bionetworks/synapse-ops-dev"`, `"repository": ["Sage-Bionetworks/synapse-ops-dev"]`)
			},
			want: `repository: expected a string, got a JSON array`,
		},
		{
			name: "GivenSubnetIDAsNumber_WhenDecoded_ThenNestedFieldNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"id": "`+subnetC+`"`, `"id": 5`)
			},
			want: `vpc.privateSubnets[0].id: expected a string, got a JSON number`,
		},
		{
			name: "GivenControllerAsArray_WhenDecoded_ThenFieldAndTypeNamed",
			edit: func(t *testing.T, doc string) string {
				return replaceOnce(t, doc, `"controller": {}`, `"controller": []`)
			},
			want: `controller: expected an object, got a JSON array`,
		},
		{
			name: "GivenArrayDocument_WhenDecoded_ThenObjectRequired",
			edit: func(*testing.T, string) string { return `[]` },
			want: `document: expected an object, got a JSON array`,
		},
		{
			name: "GivenNullDocument_WhenDecoded_ThenObjectRequired",
			edit: func(*testing.T, string) string { return " null\n" },
			want: `document: expected an object, got null`,
		},
		{
			name: "GivenSecondObjectAfterFirst_WhenDecoded_ThenTrailingDataRefused",
			edit: func(_ *testing.T, doc string) string { return doc + "\n{}\n" },
			want: `unexpected data after the JSON object; keep one object per file`,
		},
		{
			name: "GivenStrayBraceAfterObject_WhenDecoded_ThenTrailingDataRefused",
			edit: func(_ *testing.T, doc string) string { return doc + "}" },
			want: `unexpected data after the JSON object; keep one object per file`,
		},
		{
			name: "GivenEmptyFile_WhenDecoded_ThenEmptyDocumentNamed",
			edit: func(*testing.T, string) string { return " \n\t" },
			want: `empty document; write one JSON object (see README, Configuration)`,
		},
		{
			name: "GivenTruncatedDocument_WhenDecoded_ThenEarlyEndNamed",
			edit: func(_ *testing.T, doc string) string { return doc[:len(doc)/2] },
			want: `invalid JSON: the document ends before the object is closed`,
		},
		{
			name: "GivenMissingColon_WhenDecoded_ThenLineAndColumnNamed",
			edit: func(*testing.T, string) string { return "{\n  \"name\": \"dev\",\n  \"account\" \"1\"\n}" },
			want: `invalid JSON at line 3, column 13: invalid character '"' after object key`,
		},
	}
	base := string(mustJSON(t, rawDev()))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := config.Decode([]byte(tc.edit(t, base)))
			if got := errText(err); got != tc.want {
				t.Errorf("Decode() error\n got: %s\nwant: %s", got, tc.want)
			}
			if err != nil && !reflect.DeepEqual(env, config.Environment{}) {
				t.Errorf("Decode() returned a partial environment with its error: %+v", env)
			}
		})
	}
}

// writeEnv writes an environment document as dir/<file>.
func writeEnv(t *testing.T, dir, file string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFile(t *testing.T) {
	t.Run("GivenProdDocumentInDevFile_WhenLoaded_ThenNameMismatchNamesFile", func(t *testing.T) {
		path := writeEnv(t, t.TempDir(), "dev.json", mustJSON(t, rawProd()))
		_, err := config.LoadFile(path)
		want := `config: ` + path + `: name: "prod" does not match the file name; set "name": "dev" or rename the file`
		if got := errText(err); got != want {
			t.Errorf("LoadFile() error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenTrailingData_WhenLoaded_ThenMessageNamesFile", func(t *testing.T) {
		path := writeEnv(t, t.TempDir(), "dev.json", append(mustJSON(t, rawDev()), "\n{}"...))
		_, err := config.LoadFile(path)
		want := `config: ` + path + `: unexpected data after the JSON object; keep one object per file`
		if got := errText(err); got != want {
			t.Errorf("LoadFile() error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenMissingFile_WhenLoaded_ThenNotExist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "qa.json")
		_, err := config.LoadFile(path)
		want := `config: open ` + path + `: no such file or directory`
		if got := errText(err); got != want {
			t.Errorf("LoadFile() error\n got: %s\nwant: %s", got, want)
		}
		if !os.IsNotExist(errorsUnwrapAll(err)) {
			t.Errorf("LoadFile() error does not wrap fs.ErrNotExist: %v", err)
		}
	})
	t.Run("GivenValidFile_WhenLoaded_ThenDefaultsAppliedButNotValidated", func(t *testing.T) {
		bad := rawDev()
		bad.Pools[0].Min = 99 // LoadFile leaves validation to LoadDir/ValidateAll
		env, err := config.LoadFile(writeEnv(t, t.TempDir(), "dev.json", mustJSON(t, bad)))
		if err != nil {
			t.Fatal(err)
		}
		if env.Region != "us-east-1" || env.Pools[1].MaxRuntimeHours != 31 || env.Pools[0].Min != 99 {
			t.Errorf("LoadFile() = region %q, long maxRuntimeHours %d, min %d; want defaults filled and values kept",
				env.Region, env.Pools[1].MaxRuntimeHours, env.Pools[0].Min)
		}
	})
}

// errorsUnwrapAll follows single-error wrapping to the root cause.
func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestLoadDir(t *testing.T) {
	t.Run("GivenMissingDirectory_WhenLoaded_ThenDirectoryNamed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "environments")
		_, err := config.LoadDir(dir)
		want := `config: no environment files in ` + dir + `: the directory does not exist; run from the app root or create ` + dir + `/<name>.json (see README, Configuration)`
		if got := errText(err); got != want {
			t.Errorf("LoadDir() error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenDirectoryWithoutJSONFiles_WhenLoaded_ThenAskedToAddOne", func(t *testing.T) {
		dir := t.TempDir()
		writeEnv(t, dir, "README.md", []byte("notes"))
		if err := os.Mkdir(filepath.Join(dir, "old.json"), 0o755); err != nil { // a directory, not a file
			t.Fatal(err)
		}
		_, err := config.LoadDir(dir)
		want := `config: no environment files in ` + dir + `; add ` + dir + `/<name>.json (see README, Configuration)`
		if got := errText(err); got != want {
			t.Errorf("LoadDir() error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenGlobCharactersInPath_WhenLoaded_ThenFilesStillFound", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "env[1]")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeEnv(t, dir, "dev.json", mustJSON(t, rawDev()))
		if envs, err := config.LoadDir(dir); err != nil || len(envs) != 1 {
			t.Errorf("LoadDir() = %d envs, %v; want dev", len(envs), err)
		}
	})
	t.Run("GivenTwoBrokenFiles_WhenLoaded_ThenBothReportedInFileOrder", func(t *testing.T) {
		dir := t.TempDir()
		prodPath := writeEnv(t, dir, "prod.json", []byte(`{"name": "prod", "acount": "1"}`))
		devPath := writeEnv(t, dir, "dev.json", []byte(`{"name": "dev"} {}`))
		_, err := config.LoadDir(dir)
		want := `config: ` + devPath + `: unexpected data after the JSON object; keep one object per file` + "\n" +
			`config: ` + prodPath + `: unknown field "acount"; check its spelling against the README's configuration reference`
		if got := errText(err); got != want {
			t.Errorf("LoadDir() error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenFilesSharingAnAccount_WhenLoaded_ThenCrossEnvironmentRuleApplied", func(t *testing.T) {
		dir := t.TempDir()
		prod := rawProd()
		prod.Account = devAccount
		prod.DeploymentRoleArn = "arn:aws:iam::" + devAccount + ":role/synapse-deployment"
		writeEnv(t, dir, "dev.json", mustJSON(t, rawDev()))
		writeEnv(t, dir, "prod.json", mustJSON(t, prod))
		_, err := config.LoadDir(dir)
		want := `prod: account: 449435941126 is also the account of dev; dev and prod must never share an account`
		if got := errText(err); got != want {
			t.Errorf("LoadDir() error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenValidFiles_WhenLoaded_ThenSortedWithDefaults", func(t *testing.T) {
		dir := t.TempDir()
		writeEnv(t, dir, "prod.json", mustJSON(t, rawProd()))
		writeEnv(t, dir, "dev.json", mustJSON(t, rawDev()))
		envs, err := config.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) != 2 || envs[0].Name != "dev" || envs[1].Name != "prod" {
			t.Fatalf("LoadDir() names = %v, want [dev prod]", names(envs))
		}
		if !reflect.DeepEqual(envs[0], rawDev().WithDefaults()) {
			t.Errorf("LoadDir() dev = %+v\nwant %+v", envs[0], rawDev().WithDefaults())
		}
	})
}

func names(envs []config.Environment) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.Name)
	}
	return out
}

// TestCommittedEnvironments pins the facts of design.md section 2 to the files
// the app deploys from: a wrong account or region here would deploy into the
// wrong place.
func TestCommittedEnvironments(t *testing.T) {
	envs, err := config.LoadDir(filepath.Join("..", config.DefaultDir))
	if err != nil {
		t.Fatalf("committed environments do not load:\n%v", err)
	}
	if got := names(envs); !slices.Equal(got, []string{"dev", "prod"}) {
		t.Fatalf("committed environments = %v, want [dev prod]", got)
	}
	want := map[string]struct{ account, repo string }{
		"dev":  {devAccount, "Sage-Bionetworks/synapse-ops-dev"},
		"prod": {prodAccount, "Sage-Bionetworks/synapse-ops-prod"},
	}
	for _, e := range envs {
		t.Run(e.Name, func(t *testing.T) {
			w := want[e.Name]
			if e.Account != w.account || e.Region != "us-east-1" || e.Repository != w.repo {
				t.Errorf("account %s region %s repository %s; want %s us-east-1 %s", e.Account, e.Region, e.Repository, w.account, w.repo)
			}
			if e.GitHubOidc.ProviderArn != "arn:aws:iam::"+w.account+":oidc-provider/token.actions.githubusercontent.com" {
				t.Errorf("providerArn = %s, want this account's provider", e.GitHubOidc.ProviderArn)
			}
			if !strings.HasPrefix(e.DeploymentRoleArn, "arn:aws:iam::"+w.account+":role/") {
				t.Errorf("deploymentRoleArn = %s, want a role of %s", e.DeploymentRoleArn, w.account)
			}
			for _, s := range e.GitHubOidc.Subjects {
				if e.Name == "prod" && !slices.Contains(config.ProdSubjects, s) {
					t.Errorf("prod subject %q outside %v", s, config.ProdSubjects)
				}
			}
			var long *config.Pool
			for i := range e.Pools {
				if e.Pools[i].IsLong() {
					long = &e.Pools[i]
				}
			}
			if long == nil || long.Spot || long.MaxInstanceLifetimeHours != 0 || long.MaxRuntimeHours < 31 {
				t.Errorf("long pool = %+v; want one, on-demand, no lifetime, maxRuntimeHours >= 31", long)
			}
			// Every reported placeholder really is "TODO", and every TODO is reported.
			ph := e.HasPlaceholders()
			for _, path := range ph {
				if path == "vpc.id" && e.Vpc.ID != config.PlaceholderSubnetID {
					t.Errorf("vpc.id reported as placeholder but is %q", e.Vpc.ID)
				}
			}
			todo := 0
			for _, s := range e.Vpc.PrivateSubnets {
				if s.ID == config.PlaceholderSubnetID {
					todo++
				}
			}
			if e.Vpc.ID == config.PlaceholderSubnetID {
				todo++
			}
			if len(ph) != todo {
				t.Errorf("HasPlaceholders() = %v, but %d values are TODO", ph, todo)
			}
		})
	}
	dev := envs[0]
	if dev.Vpc.ID != devVpc {
		t.Errorf("dev vpc.id = %q, want %s (sagevpc)", dev.Vpc.ID, devVpc)
	}
	if slices.Contains(dev.HasPlaceholders(), "vpc.id") {
		t.Error("dev's VPC id is known and must not be reported as a placeholder")
	}
	if !slices.Equal(dev.Vpc.AvailabilityZones, []string{"us-east-1c", "us-east-1d", "us-east-1e"}) {
		t.Errorf("dev zones = %v, want us-east-1c/d/e", dev.Vpc.AvailabilityZones)
	}
}

// FuzzDecode: Decode never panics on any input, is strict about what it
// returns, and whatever it accepts and Validate passes has only sound pools.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"dev.json", "prod.json"} {
		if data, err := os.ReadFile(filepath.Join("..", config.DefaultDir, name)); err == nil {
			f.Add(data)
		}
	}
	f.Add(mustJSON(f, rawDev()))
	f.Add(mustJSON(f, rawProd()))
	f.Add([]byte(`{"pools":[{"name":"long","kind":"long","spot":true,"min":-1,"max":0}]}`))
	f.Add([]byte(`{"tags":{"a":"b","a":"c"}}`))
	f.Add([]byte(`[1 2]`))
	f.Add([]byte(`{"pools":[{"max":1e999}]}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := config.Decode(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("decode error spans lines: %q", err)
			}
			return
		}
		// Decode applies defaults; applying them again changes nothing.
		if again := env.WithDefaults(); !reflect.DeepEqual(again, env) {
			t.Errorf("WithDefaults is not idempotent on a decoded environment:\n%+v\n%+v", env, again)
		}
		if env.Validate() != nil {
			return
		}
		scaleSets := map[string]bool{}
		for i, p := range env.Pools {
			if p.Kind != config.PoolKindStandard && p.Kind != config.PoolKindLong {
				t.Errorf("pools[%d] valid with kind %q", i, p.Kind)
			}
			if len(p.InstanceTypes) == 0 || p.Min < 0 || p.Max < 1 || p.Min > p.Max || p.MinIdle < 0 || p.MinIdle > p.Max {
				t.Errorf("pools[%d] valid with sizes or types %+v", i, p)
			}
			if p.IsLong() && (p.Spot || p.MaxInstanceLifetimeHours != 0 || p.MaxRuntimeHours < config.MinLongMaxRuntimeHours) {
				t.Errorf("pools[%d] long pool valid with spot/lifetime/runtime %+v", i, p)
			}
			if p.ScaleSetName == "" || scaleSets[p.ScaleSetName] {
				t.Errorf("pools[%d] valid with empty or repeated scale set %q", i, p.ScaleSetName)
			}
			scaleSets[p.ScaleSetName] = true
			for _, pkg := range p.Packages {
				if !slices.Contains(config.KnownPackages, pkg) {
					t.Errorf("pools[%d] valid with unknown package %q", i, pkg)
				}
			}
		}
		if len(env.Pools) == 0 {
			t.Error("valid environment without pools")
		}
	})
}

// TestDecode_GivenDeeplyNestedDocument_ThenErrorNotCrash keeps the key check's
// recursion bounded on hostile input.
func TestDecode_GivenDeeplyNestedDocument_ThenErrorNotCrash(t *testing.T) {
	doc := `{"tags":` + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + `}`
	if _, err := config.Decode([]byte(doc)); err == nil {
		t.Error("Decode() accepted 200000 nested arrays")
	}
}
