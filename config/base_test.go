package config_test

import (
	"encoding/json"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// Fake but well-formed values. The accounts are the real, public dev and prod
// account numbers because the cross-environment rules are about them; nothing
// here is a credential.
const (
	devAccount  = "449435941126"
	prodAccount = "325565585839"
	devVpc      = "vpc-0f126dc4dd46853a6"
	subnetC     = "subnet-0123456789abcdef0"
	subnetD     = "subnet-0fedcba987654321f"
	coreRunTask = "Sage-Bionetworks/synapse-ops-core/.github/workflows/run-task.yml"
	runnerSHA   = "6d1e85bfd1a506a8b17c1f1b9b57dba458ffed90898799aaa9f599520b0d9207"
)

// rawDev is a valid dev environment as a user writes it: only required fields
// and a few explicit choices, no defaults filled. Each call returns a fresh
// value, so a test can mutate it freely.
func rawDev() config.Environment {
	return config.Environment{
		Name:    "dev",
		Account: devAccount,
		Vpc: config.Vpc{
			ID:                devVpc,
			AvailabilityZones: []string{"us-east-1c", "us-east-1d"},
			PrivateSubnets: []config.Subnet{
				{ID: subnetC, AvailabilityZone: "us-east-1c"},
				{ID: subnetD, AvailabilityZone: "us-east-1d"},
			},
		},
		Repository:        "Sage-Bionetworks/synapse-ops-dev",
		SynapseHost:       "https://repo-dev.dev.sagebase.org",
		DeploymentRoleArn: "arn:aws:iam::" + devAccount + ":role/synapse-deployment",
		GitHubOidc:        config.GitHubOidc{Subjects: []string{"ref:refs/heads/main", "environment:dev"}},
		Runner:            config.Runner{MinimumVersion: "2.335.1", MinimumSHA256: runnerSHA},
		Budget:            config.Budget{MonthlyUsd: 300},
		Pools: []config.Pool{
			{Name: "default", InstanceTypes: []string{"m7g.large", "m6g.large"}, Spot: true, Max: 10},
			{Name: "long", Kind: config.PoolKindLong, InstanceTypes: []string{"m7g.large"}, Max: 3},
		},
		Admission: config.Admission{
			Workflows:    []string{coreRunTask + "@refs/heads/*"},
			Events:       []string{"workflow_dispatch", "schedule"},
			Branches:     []string{"*"},
			Repositories: []string{"Sage-Bionetworks/synapse-ops-dev"},
			Note:         "dev tries ops-core branches before they merge",
		},
		Tags: map[string]string{
			"CostCenter": "Platform Infrastructure / 990300",
			"OwnerEmail": "synapseeng@sagebase.org",
		},
	}
}

// rawProd is the prod counterpart of rawDev.
func rawProd() config.Environment {
	e := rawDev()
	e.Name = "prod"
	e.Account = prodAccount
	e.Vpc.ID = "vpc-0a1b2c3d4e5f60718"
	e.Vpc.PrivateSubnets = []config.Subnet{
		{ID: "subnet-00000000000000001", AvailabilityZone: "us-east-1c"},
		{ID: "subnet-00000000000000002", AvailabilityZone: "us-east-1d"},
	}
	e.Repository = "Sage-Bionetworks/synapse-ops-prod"
	e.SynapseHost = "https://repo-prod.prod.sagebase.org"
	e.DeploymentRoleArn = "arn:aws:iam::" + prodAccount + ":role/synapse-deployment"
	e.GitHubOidc.Subjects = []string{"environment:prod"}
	e.Admission = config.Admission{
		Workflows:    []string{coreRunTask + "@refs/heads/main"},
		Events:       []string{"workflow_dispatch", "schedule"},
		Branches:     []string{"main"},
		Repositories: []string{"Sage-Bionetworks/synapse-ops-prod"},
	}
	return e
}

// mustJSON renders an environment the way a committed file holds it.
func mustJSON(t testing.TB, e config.Environment) []byte {
	t.Helper()
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// errText is err's message, or "<nil>", so a missing error fails the comparison
// with a readable diff instead of a nil dereference.
func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
