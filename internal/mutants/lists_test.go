package mutants

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed lists must stay applicable: when code a mutant names changes,
// this fails naming the mutant, so whoever changed it updates the mutant (and
// make mutants keeps measuring the tests) instead of the list rotting.
func TestGivenTheCommittedLists_ThenEveryMutantParsesAndAppliesToTheCurrentCode(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "mutants", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no mutant lists in mutants/: %v", err)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		list, err := Parse(filepath.Base(f), bytes.NewReader(data))
		if err != nil {
			t.Errorf("%v", err)
		}
		for _, m := range list {
			n++
			content, err := os.ReadFile(filepath.Join(root, m.File))
			if err != nil {
				t.Errorf("%s: mutant %s: %v", m.Source, m.ID, err)
				continue
			}
			if _, err := m.Apply(string(content)); err != nil {
				t.Errorf("%s: %v", m.Source, err)
			}
		}
	}
	if n < 25 {
		t.Errorf("%d mutants listed; the project keeps at least 25", n)
	}
}
