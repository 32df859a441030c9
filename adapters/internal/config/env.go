package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

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
func (p *parser) applyEnv(root *yaml.Node, env []string) error {
	sort.Strings(env)
	sections := yamlFields(reflect.TypeFor[Config]())
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
		if st.Kind() != reflect.Pointer {
			return &Error{Env: name, Field: sec, Err: fmt.Errorf("the %s section is a list: environment variables cannot override it; edit the config file", sec)}
		}
		line := envLineBase + len(p.envLines)
		p.envLines[line] = name
		bad := func(format string, args ...any) error {
			return &Error{Env: name, Field: sec + "." + field, Err: fmt.Errorf(format, args...)}
		}
		secNode := mapValue(root, sec)
		if secNode == nil || secNode.Kind != yaml.MappingNode {
			return bad("the config has no %s section to override", sec)
		}
		elem := st.Elem() // sections are pointers to structs
		fields := yamlFields(elem)
		if ft, ok := fields[field]; ok {
			setKey(secNode, field, valueNode(ft, val, line), line)
			continue
		}
		done := false
		for lname, lt := range fields {
			if lt.Kind() != reflect.Slice || lt.Elem().Kind() != reflect.Struct {
				continue
			}
			ft, ok := yamlFields(lt.Elem())[field]
			if !ok {
				continue
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
			return bad("section %s has no field %s", sec, field)
		}
	}
	return nil
}

// yamlFields maps the yaml names of a struct's fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	return m
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
