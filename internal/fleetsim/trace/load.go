package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Load reads and strictly decodes a trace file. It does not validate: call
// Validate with the environment's pools.
func Load(path string) (*Trace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	t, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("trace: %s: %w", path, err)
	}
	return t, nil
}

// Decode parses one trace document. Unknown fields are errors (a misspelt fault
// kind must not silently simulate a calm week).
func Decode(data []byte) (*Trace, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Trace
	if err := dec.Decode(&t); err != nil {
		return nil, describe(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the trace object; a file holds exactly one trace")
	}
	return &t, nil
}

// describe turns encoding/json's errors into ones that name the field.
func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("%s: want a %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s; see docs/simulator.md for the trace format", msg)
	}
	return err
}

// Encode writes the trace as indented JSON with one job per line, so a diff of a
// regenerated trace shows only the jobs that changed.
func Encode(w io.Writer, t *Trace) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"name\": %s,\n", mustJSON(t.Name))
	if t.Start != "" {
		fmt.Fprintf(&b, "  \"start\": %s,\n", mustJSON(t.Start))
	}
	fmt.Fprintf(&b, "  \"length\": %s,\n  \"jobs\": [\n", mustJSON(t.Length))
	for i, j := range t.Jobs {
		sep := ","
		if i == len(t.Jobs)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", mustJSON(j), sep)
	}
	b.WriteString("  ],\n  \"faults\": ")
	faults, err := json.MarshalIndent(t.Faults, "  ", "  ")
	if err != nil {
		return err
	}
	b.Write(faults)
	b.WriteString("\n}\n")
	_, err = w.Write(b.Bytes())
	return err
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain values of this package are encoded
	}
	return string(b)
}
