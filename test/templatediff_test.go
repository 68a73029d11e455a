package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// A golden mismatch is reviewed by a person: the message names each changed
// template entry (resource, output, parameter) and the properties that
// changed, then shows a unified diff of that entry alone, pretty-printed, with
// user data decoded from its Fn::Base64 / Fn::Join parts into one line per
// script line. Entries that did not change are left out.

// decodedKey replaces Fn::Base64 in the rendering, so a reader sees the script.
const decodedKey = "Fn::Base64 (decoded, one line per element)"

// templateDiff explains how got differs from want ("" when they are equal).
func templateDiff(name string, want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	var w, g map[string]any
	if json.Unmarshal(want, &w) != nil || json.Unmarshal(got, &g) != nil {
		return unified(name+" (golden)", name+" (synthesized)", string(want), string(got))
	}
	var b strings.Builder
	for _, section := range unionKeys(w, g) {
		ws, wIsMap := w[section].(map[string]any)
		gs, gIsMap := g[section].(map[string]any)
		if !wIsMap || !gIsMap || section == "Metadata" {
			entryDiff(&b, name, section, "", w[section], g[section])
			continue
		}
		for _, key := range unionKeys(ws, gs) {
			entryDiff(&b, name, section, key, ws[key], gs[key])
		}
	}
	if b.Len() == 0 {
		// Same JSON values, different bytes (key order, whitespace).
		return unified(name+" (golden)", name+" (synthesized)", string(want), string(got))
	}
	return b.String()
}

// entryDiff writes the headline and the diff of one entry, if it changed.
func entryDiff(b *strings.Builder, name, section, key string, want, got any) {
	if reflect.DeepEqual(want, got) {
		return
	}
	where := section
	if key != "" {
		where += "/" + key
	}
	typ := ""
	for _, v := range []any{got, want} {
		if m, ok := v.(map[string]any); ok && m["Type"] != nil {
			typ = fmt.Sprintf(" (%v)", m["Type"])
			break
		}
	}
	rw, rg := readable(want), readable(got)
	switch {
	case want == nil:
		fmt.Fprintf(b, "%s: %s%s added\n", name, where, typ)
	case got == nil:
		fmt.Fprintf(b, "%s: %s%s removed\n", name, where, typ)
	default:
		var paths []string
		changedPaths(rw, rg, "", &paths)
		fmt.Fprintf(b, "%s: %s%s changed at %s\n", name, where, typ, strings.Join(paths, ", "))
	}
	b.WriteString(unified("golden "+where, "synthesized "+where, render(rw), render(rg)))
}

// unionKeys lists the keys of both maps, sorted.
func unionKeys(a, b map[string]any) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// changedPaths collects the paths of the leaves that differ, at most eight.
func changedPaths(a, b any, path string, out *[]string) {
	if reflect.DeepEqual(a, b) || len(*out) >= 8 {
		return
	}
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		for _, k := range unionKeys(am, bm) {
			if k == decodedKey {
				userDataLines(am[k], bm[k], path, out)
				continue
			}
			changedPaths(am[k], bm[k], joinPath(path, k), out)
		}
		return
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList && len(al) == len(bl) {
		for i := range al {
			changedPaths(al[i], bl[i], fmt.Sprintf("%s[%d]", path, i), out)
		}
		return
	}
	if path == "" {
		path = "(whole entry)"
	}
	*out = append(*out, path)
}

// userDataLines names the first differing line of decoded user data.
func userDataLines(a, b any, path string, out *[]string) {
	al, _ := a.([]any)
	bl, _ := b.([]any)
	for i := 0; i < len(al) || i < len(bl); i++ {
		if i >= len(al) || i >= len(bl) || !reflect.DeepEqual(al[i], bl[i]) {
			*out = append(*out, fmt.Sprintf("%s (decoded line %d)", path, i+1))
			return
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// readable returns a copy of v with every Fn::Base64 decoded into lines.
func readable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if inner, ok := x["Fn::Base64"]; ok && len(x) == 1 {
			var lines []any
			for _, l := range strings.Split(flatten(inner), "\n") {
				lines = append(lines, l)
			}
			return map[string]any{decodedKey: lines}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = readable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = readable(e)
		}
		return out
	default:
		return v
	}
}

// flatten renders a string-valued CloudFormation expression as text, with
// references as ${Ref} and ${LogicalId.Attribute}.
func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if join, ok := x["Fn::Join"].([]any); ok && len(join) == 2 {
			sep, _ := join[0].(string)
			var parts []string
			for _, p := range asList(join[1]) {
				parts = append(parts, flatten(p))
			}
			return strings.Join(parts, sep)
		}
		if ref, ok := x["Ref"].(string); ok {
			return "${" + ref + "}"
		}
		if att, ok := x["Fn::GetAtt"].([]any); ok && len(att) == 2 {
			return fmt.Sprintf("${%v.%v}", att[0], att[1])
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// render pretty-prints a JSON value with sorted keys ("" for nil).
func render(v any) string {
	if v == nil {
		return ""
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return buf.String()
}

// unified is a unified diff with three lines of context.
func unified(from, to, a, b string) string {
	out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(a),
		B:        difflib.SplitLines(b),
		FromFile: from,
		ToFile:   to,
		Context:  3,
	})
	if err != nil {
		return err.Error()
	}
	return out
}
