package config

import (
	"encoding"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"
)

// allYAMLFields lists the dotted key path of every field of t as the YAML
// spells it ("sweep.rules[].older_than"), walking nested config structs,
// lists and pointers; inline structs add their fields to their parent.
func allYAMLFields(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return
	}
	if _, custom := reflect.PointerTo(t).MethodByName("UnmarshalYAML"); custom {
		return // a value with its own YAML form (a job's command: list or string)
	}
	for f := range t.Fields() {
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			allYAMLFields(f.Type, prefix, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		*out = append(*out, p)
		allYAMLFields(f.Type, p, out)
	}
}

// nodeKeys lists the dotted key path of every key written in n, with "[]"
// for any list index.
func nodeKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			nodeKeys(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[p] = true
			nodeKeys(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			nodeKeys(c, prefix+"[]", out)
		}
	}
}

// TestFullExampleShowsEveryField fails when a field of the config structs
// is missing from testdata/full.yaml, the example the README and
// docs/DESIGN.md point users at: add the field there (with a value that
// loads) when you add it to a struct.
func TestFullExampleShowsEveryField(t *testing.T) {
	var fields []string
	allYAMLFields(reflect.TypeFor[Config](), "", &fields)
	require.Greater(t, len(fields), 80, "the walk finds the config's fields")
	data, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Load(data, &doc))
	have := map[string]bool{}
	nodeKeys(&doc, "", have)
	var missing []string
	for _, f := range fields {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	require.Empty(t, missing, "fields of the config structs missing from testdata/full.yaml")
}
