package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// DefaultDir is where the committed environment files live, relative to the app root.
const DefaultDir = "environments"

// LoadDir reads every environments/<name>.json file in dir, applies defaults and
// validates each environment and the rules across them. The result is sorted by
// name. Every problem in every file is reported at once.
func LoadDir(dir string) ([]Environment, error) {
	// os.ReadDir rather than filepath.Glob: a missing directory is an error
	// worth naming, and a directory name with glob characters still works.
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: no environment files in %s: the directory does not exist; run from the app root or create %s/<name>.json (see README, Configuration)", dir, dir)
		}
		return nil, fmt.Errorf("config: listing %s: %w", dir, err)
	}
	var paths []string
	for _, entry := range entries {
		if !entry.IsDir() && strings.HasSuffix(entry.Name(), ".json") {
			paths = append(paths, filepath.Join(dir, entry.Name()))
		}
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
//
// Strict means: unknown fields, field names in the wrong case, a key given
// twice and anything after the object are errors. encoding/json alone would
// accept "Account" for "account" and keep the last of two "account" keys, so a
// leftover merge line could silently point an environment at another account.
func Decode(data []byte) (Environment, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Environment{}, errors.New("empty document; write one JSON object (see README, Configuration)")
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		// encoding/json would decode null into a zero Environment without a word.
		return Environment{}, errors.New("document: expected an object, got null")
	}
	var typeErrs []error
	keyDec := json.NewDecoder(bytes.NewReader(data))
	keyDec.UseNumber()
	if err := checkKeys(keyDec, reflect.TypeFor[Environment](), "", 0, &typeErrs); err != nil && !errors.Is(err, errMalformed) {
		return Environment{}, err
	}
	if len(typeErrs) > 0 {
		// Every wrong type at once, each with its full path (pools[1].max).
		return Environment{}, errors.Join(typeErrs...)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var env Environment
	if err := dec.Decode(&env); err != nil {
		return Environment{}, describeJSONError(err, data)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Environment{}, errors.New("unexpected data after the JSON object; keep one object per file")
	}
	return env.WithDefaults(), nil
}

func describeJSONError(err error, data []byte) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "document"
		}
		return fmt.Errorf("%s: expected %s, got a JSON %s", field, jsonKind(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		line, col := position(data, syntaxErr.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: the document ends before the object is closed")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return fmt.Errorf("unknown field %s; check its spelling against the README's configuration reference", field)
	}
	return err
}

// jsonKind names a Go type the way the JSON file spells it, so a message says
// "expected a number" rather than "expected a int".
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.String()
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// errMalformed stops checkKeys at a syntax error: the real decode that follows
// describes it with its position.
var errMalformed = errors.New("malformed JSON")

// maxCheckDepth bounds checkKeys' recursion; a config nests four levels.
const maxCheckDepth = 100

// checkKeys walks the document with the type it decodes into and refuses keys
// given twice in one object and struct field names in another case. Values of
// the wrong JSON type are appended to typeErrs with their indexed path, which
// encoding/json's own error loses (it says pools.max for pools[1].max).
func checkKeys(dec *json.Decoder, t reflect.Type, path string, depth int, typeErrs *[]error) error {
	if depth > maxCheckDepth {
		return errMalformed // far deeper than any config; the real decode refuses it
	}
	tok, err := dec.Token()
	if err != nil {
		return errMalformed
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if got := mismatch(t, tok); got != "" {
		field := path
		if field == "" {
			field = "document"
		}
		*typeErrs = append(*typeErrs, fmt.Errorf("%s: expected %s, got %s", field, jsonKind(t), got))
		if _, isDelim := tok.(json.Delim); isDelim {
			t = nil // still walk it, for duplicate keys, without types
		}
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkKeys(dec, elem, fmt.Sprintf("%s[%d]", path, i), depth+1, typeErrs); err != nil {
				return err
			}
		}
	case '{':
		fields := jsonFields(t)
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return errMalformed
			}
			key, _ := tok.(string)
			keyPath := key
			if path != "" {
				keyPath = path + "." + key
			}
			if seen[key] {
				return fmt.Errorf("%s: given twice; keep one value", keyPath)
			}
			seen[key] = true
			var elem reflect.Type
			switch {
			case t != nil && t.Kind() == reflect.Map:
				elem = t.Elem()
			case fields != nil:
				f, ok := fields[key]
				if !ok {
					for name := range fields {
						if strings.EqualFold(name, key) {
							return fmt.Errorf("unknown field %q; field names are case-sensitive, write %q", keyPath, name)
						}
					}
				}
				elem = f
			}
			if err := checkKeys(dec, elem, keyPath, depth+1, typeErrs); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return errMalformed
	}
	return nil
}

// mismatch describes tok ("a JSON string", "a JSON number 1.5", "null") when a
// value of type t cannot hold it, or returns "". A nil t (unknown field,
// reported elsewhere) and null (encoding/json leaves the zero value) match.
func mismatch(t reflect.Type, tok json.Token) string {
	if t == nil || tok == nil || t.Kind() == reflect.Interface {
		return ""
	}
	k := t.Kind()
	isInt := k >= reflect.Int && k <= reflect.Uint64
	isFloat := k == reflect.Float32 || k == reflect.Float64
	switch v := tok.(type) {
	case json.Delim:
		switch {
		case v == '[' && (k == reflect.Slice || k == reflect.Array):
		case v == '{' && (k == reflect.Struct || k == reflect.Map):
		case v == '[':
			return "a JSON array"
		default:
			return "a JSON object"
		}
	case string:
		if k != reflect.String {
			return "a JSON string"
		}
	case bool:
		if k != reflect.Bool {
			return "a JSON boolean"
		}
	case json.Number:
		switch {
		case isFloat:
		case isInt && !strings.ContainsAny(v.String(), ".eE"):
		case isInt:
			return "a JSON number " + v.String()
		default:
			return "a JSON number"
		}
	}
	return ""
}

// jsonFields maps the JSON names of a struct's fields to their types, or
// returns nil for anything that is not a struct.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
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
