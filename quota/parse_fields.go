package quota

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/units"
)

func (p *specParser) gpus(path, user string, n *yaml.Node) GPUs {
	var g GPUs
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		if n.Value == "all" {
			g.All = true
			break
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 0 {
			p.fail(user, path, fmt.Errorf("%q: give a count, all, or a list of ids or UUIDs such as [\"0\", \"2\"]", n.Value))
		}
		g.Count = v
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Value == "" {
				p.fail(user, path, errors.New("list entries must be GPU ids or UUIDs"))
				continue
			}
			g.IDs = append(g.IDs, c.Value)
		}
	default:
		p.fail(user, path, errors.New("give a count, all, or a list of ids or UUIDs"))
	}
	return g
}

// ulimits reads `{memlock: -1, stack: 64MiB, nofile: {soft: 1024, hard: 4096}}`
// in file order; "1024:4096" is also accepted, as docker writes it.
func (p *specParser) ulimits(path, user string, n *yaml.Node) []Ulimit {
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.fail(user, path, errors.New("expected a mapping such as {memlock: -1, stack: 67108864}"))
		return nil
	}
	var us []Ulimit
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, v := n.Content[i].Value, n.Content[i+1]
		field := path + "." + name
		u := Ulimit{Name: name}
		var err error
		switch v.Kind {
		case yaml.ScalarNode:
			soft, hard, isPair := strings.Cut(v.Value, ":")
			u.Soft, err = ulimitValue(soft)
			u.Hard = u.Soft
			if err == nil && isPair {
				u.Hard, err = ulimitValue(hard)
			}
		case yaml.MappingNode:
			var m struct {
				Soft string `yaml:"soft"`
				Hard string `yaml:"hard"`
			}
			if err = v.Load(&m, yaml.WithKnownFields()); err == nil {
				if u.Soft, err = ulimitValue(m.Soft); err == nil {
					u.Hard, err = ulimitValue(m.Hard)
				}
			}
		default:
			err = errors.New("expected a number, SOFT:HARD or {soft: N, hard: N}")
		}
		if err != nil {
			p.fail(user, field, fmt.Errorf("ulimit %s: %w", name, err))
			continue
		}
		us = append(us, u)
	}
	return us
}

func ulimitValue(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "-1" || s == "unlimited" {
		return -1, nil
	}
	v, err := units.ParseSize(s)
	return int64(v), err
}
