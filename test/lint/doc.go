// Package lint holds the repository's lint and policy tests for the GitHub
// Actions side of synapse-ops-runners: actionlint (with its shellcheck
// integration) over every workflow and caller example, shellcheck over every
// shell script, the security rules the workflows must keep, and behaviour tests
// of the scripts the workflows run.
//
// The package has no code of its own; everything is in _test.go files and runs
// with `go test ./test/lint/`. shellcheck comes from Debian
// (`apt-get install -y shellcheck`): without it the shellcheck tests skip
// locally and fail when the CI environment variable is set.
package lint
