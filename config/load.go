package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultDir is where the committed environment files live, relative to the app root.
const DefaultDir = "environments"

// LoadDir reads every environments/<name>.json file in dir, applies defaults and
// validates each environment and the rules across them. The result is sorted by
// name. Every problem in every file is reported at once.
func LoadDir(dir string) ([]Environment, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("config: listing %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("config: no environment files in %s; add %s/<name>.json (see README, Configuration)", dir, dir)
	}
	slices.Sort(paths)
	var envs []Environment
	var errs []error
	for _, path := range paths {
		env, err := LoadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		envs = append(envs, env)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := ValidateAll(envs); err != nil {
		return nil, err
	}
	return envs, nil
}

// LoadFile decodes one environment file strictly (unknown fields are errors) and
// returns it with defaults applied. It does not validate.
func LoadFile(path string) (Environment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Environment{}, fmt.Errorf("config: %w", err)
	}
	env, err := Decode(data)
	if err != nil {
		return Environment{}, fmt.Errorf("config: %s: %w", path, err)
	}
	want := strings.TrimSuffix(filepath.Base(path), ".json")
	if env.Name != want {
		return Environment{}, fmt.Errorf("config: %s: name: %q does not match the file name; set \"name\": %q or rename the file", path, env.Name, want)
	}
	return env, nil
}

// Decode parses one environment document strictly and applies defaults.
func Decode(data []byte) (Environment, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var env Environment
	if err := dec.Decode(&env); err != nil {
		return Environment{}, describeJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Environment{}, errors.New("unexpected data after the JSON object; keep one object per file")
	}
	return env.WithDefaults(), nil
}

func describeJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("%s: expected a %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return fmt.Errorf("unknown field %s; check its spelling against the README's configuration reference", field)
	}
	return err
}

// Select returns the environments to build: all of them when name is empty,
// otherwise the one named, or an error listing the valid choices.
func Select(envs []Environment, name string) ([]Environment, error) {
	if name == "" {
		return envs, nil
	}
	var names []string
	for _, e := range envs {
		if e.Name == name {
			return []Environment{e}, nil
		}
		names = append(names, e.Name)
	}
	return nil, fmt.Errorf("env: %q is not a configured environment; use --context env=<name> with one of: %s", name, strings.Join(names, ", "))
}
