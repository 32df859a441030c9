package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/internal/yamlerr"
)

// envVar is an override variable and its value.
type envVar struct{ name, value string }

// EnvPrefix starts every override variable: TEND_<SECTION>_<FIELD>.
const EnvPrefix = "TEND_"

// envLineBase numbers the nodes made from environment variables, so that an
// error about one names the variable instead of a line.
const envLineBase = 1 << 30

// applyEnv writes TEND_<SECTION>_<FIELD> overrides into the document before
// it is decoded, so they go through the same checks as the file. A field of
// the section is set there; a field of the section's list items (a sweep
// rule's older_than, a rotated file's keep) is set in every item. Variables
// whose section is not a config section (TEND_INTEGRATION) are ignored.
//
// A value that does not decode as its field's type is reported once, naming
// the variable and the value, and left out, rather than once per list item
// it would have been written into.
func (p *parser) applyEnv(root *yaml.Node, env []string) []*Error {
	sort.Strings(env)
	sections := yamlFields(reflect.TypeFor[Config]())
	var errs []*Error
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		sec, field, ok := strings.Cut(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "_")
		st, known := sections[sec]
		if !ok || !known {
			continue
		}
		bad := func(path string, err error) {
			errs = append(errs, &Error{Env: name, Value: val, Field: path, Err: err})
		}
		if st.Kind() != reflect.Pointer {
			bad(sec, fmt.Errorf("the %s section is a list: environment variables cannot override it; edit the config file", sec))
			continue
		}
		secNode := mapValue(root, sec)
		if secNode == nil || secNode.Kind != yaml.MappingNode {
			bad(sec+"."+field, fmt.Errorf("the config has no %s section to override", sec))
			continue
		}
		line := envLineBase + len(p.envLines)
		p.envLines[line] = envVar{name, val}
		fields := yamlFields(st)
		if ft, ok := fields[field]; ok {
			v := valueNode(ft, val, line)
			if err := decodes(v, ft); err != nil {
				bad(sec+"."+field, err)
				continue
			}
			setKey(secNode, field, v, line)
			continue
		}
		if path, err := applyToItems(secNode, sec, field, val, line, fields); err != nil {
			bad(path, err)
		}
	}
	return errs
}

// applyToItems sets field in every item of the section's lists of structs
// that have it. A problem is named at "SECTION.LIST[*].FIELD".
func applyToItems(secNode *yaml.Node, sec, field, val string, line int, fields map[string]reflect.Type) (string, error) {
	done := false
	for _, lname := range slices.Sorted(maps.Keys(fields)) {
		lt := fields[lname]
		if lt.Kind() != reflect.Slice || lt.Elem().Kind() != reflect.Struct {
			continue
		}
		ft, ok := yamlFields(lt.Elem())[field]
		if !ok {
			continue
		}
		if err := decodes(valueNode(ft, val, line), ft); err != nil {
			return sec + "." + lname + "[*]." + field, err
		}
		if list := mapValue(secNode, lname); list != nil && list.Kind == yaml.SequenceNode {
			for _, item := range list.Content {
				if item.Kind == yaml.MappingNode {
					setKey(item, field, valueNode(ft, val, line), line)
				}
			}
		}
		done = true
	}
	if !done {
		return sec + "." + field, fmt.Errorf("section %s has no field %s", sec, field)
	}
	return "", nil
}

// decodes reports whether the node decodes as a value of type t, with the
// decoder's message in a user's words when it does not.
func decodes(n *yaml.Node, t reflect.Type) error {
	err := n.Load(reflect.New(t).Interface(), yaml.WithKnownFields())
	if err == nil {
		return nil
	}
	var le *yaml.LoadErrors
	if errors.As(err, &le) && len(le.Errors) > 0 {
		return errors.New(yamlerr.Clean(le.Errors[0].Message, typeNames...))
	}
	return yamlerr.Message(err, typeNames...)
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setKey(m *yaml.Node, key string, v *yaml.Node, line int) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i].Line = line
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key, Tag: "!!str", Line: line}, v)
}

// valueNode makes a node for an override: a list for list fields (comma
// separated), a plain scalar otherwise, resolved as YAML would resolve it.
func valueNode(t reflect.Type, val string, line int) *yaml.Node {
	if t.Kind() == reflect.Slice {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
		for _, part := range strings.Split(val, ",") {
			if part = strings.TrimSpace(part); part != "" {
				seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: part, Line: line})
			}
		}
		return seq
	}
	var n yaml.Node
	if err := yaml.Load([]byte(val), &n); err == nil && len(n.Content) == 1 && n.Content[0].Kind == yaml.ScalarNode {
		v := n.Content[0]
		v.Line = line
		return v
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val, Line: line}
}
