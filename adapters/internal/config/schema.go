package config

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/tendkit/tend/internal/yamlerr"
)

// yamlFields maps the YAML keys of a struct type to their field types;
// an inline struct adds its keys to its parent's, as the decoder does.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return m
	}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// structTypes maps the name of every struct type reachable from t through
// fields, pointers, lists and maps to its type: the decoder names the type
// in which a key is unknown ("field x not found in type config.SweepRule").
func structTypes(t reflect.Type, out map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || out[t.Name()] != nil {
		return
	}
	out[t.Name()] = t
	for f := range t.Fields() {
		structTypes(f.Type, out)
	}
}

// schemaTypes are the config's struct types by name, for unknownKey.
var schemaTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	structTypes(reflect.TypeFor[Config](), m)
	return m
}()

// unknownKey rewrites the decoder's "field KEY not found in type T"
// (already cleaned to "... in section T") as "unknown key KEY; did you mean
// NEAR?" when one key valid at that place is close to KEY, else with the
// keys valid there. Other messages are returned unchanged.
func unknownKey(msg string) string {
	var key, typ string
	if _, err := fmt.Sscanf(msg, "field %s not found in section %s", &key, &typ); err != nil {
		return msg
	}
	t, ok := schemaTypes[typ]
	if !ok {
		return msg
	}
	known := make([]string, 0, 16)
	for k := range yamlFields(t) {
		known = append(known, k)
	}
	sort.Strings(known)
	if near := yamlerr.Nearest(key, known); near != "" {
		return fmt.Sprintf("unknown key %s; did you mean %s?", key, near)
	}
	return fmt.Sprintf("unknown key %s (known here: %s)", key, strings.Join(known, ", "))
}
