package quota

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// podWriter writes a k8sPod as YAML in the layout yaml.Dump gives it (keys
// in field order, maps sorted, lists at their key's indentation, two
// spaces a level), without reflection and without the emitter's garbage:
// go.yaml.in/yaml/v4 allocates about 65 KiB a Pod, which made 105,000 Pods
// take 6 s of CPU. Each string is written plain where yaml.Dump writes it
// plain, single-quoted where it single-quotes it on one line, and
// otherwise double-quoted on one line (JSON's escapes are YAML's), so that
// what a Pod says does not depend on the writer; TestPodWriterMatchesDump
// decodes both and compares.
type podWriter struct {
	b *bytes.Buffer
	// styles remembers how each string seen is written (images, paths and
	// quantities repeat across Pods); nil: no memory.
	styles map[string]string
}

// scalar returns s as a YAML scalar for a block context.
func (w podWriter) scalar(s string) string {
	if t, ok := w.styles[s]; ok {
		return t
	}
	t := quoteScalar(s)
	if w.styles != nil && len(s) <= 256 {
		w.styles[s] = t
	}
	return t
}

// quoteScalar writes s as yaml.Dump would where that is one line, plain
// or single-quoted, and otherwise double-quoted on one line.
func quoteScalar(s string) string {
	out, err := yaml.Dump(s)
	if err == nil {
		d := strings.TrimSuffix(string(out), "\n")
		if !strings.Contains(d, "\n") && (d == s || (strings.HasPrefix(d, "'") && strings.HasSuffix(d, "'") && len(d) >= 2)) {
			return d
		}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func (w podWriter) indent(n int) {
	for range n {
		w.b.WriteString("  ")
	}
}

// kv writes "key: value" at level n; item starts it with "- " instead.
func (w podWriter) kv(n int, item bool, key, value string) {
	w.start(n, item)
	w.b.WriteString(key)
	w.b.WriteString(": ")
	w.b.WriteString(w.scalar(value))
	w.b.WriteByte('\n')
}

func (w podWriter) num(n int, item bool, key string, v int64) {
	w.start(n, item)
	w.b.WriteString(key)
	w.b.WriteString(": ")
	w.b.WriteString(strconv.FormatInt(v, 10))
	w.b.WriteByte('\n')
}

// open writes "key:" for a nested mapping or list at level n.
func (w podWriter) open(n int, item bool, key string) {
	w.start(n, item)
	w.b.WriteString(key)
	w.b.WriteString(":\n")
}

func (w podWriter) start(n int, item bool) {
	if item {
		w.indent(n - 1)
		w.b.WriteString("- ")
		return
	}
	w.indent(n)
}

func (w podWriter) strMap(n int, key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	w.open(n, false, key)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.kv(n+1, false, k, m[k])
	}
}

// pod writes p as one YAML document (without "---").
func (w podWriter) pod(p k8sPod) {
	w.kv(0, false, "apiVersion", p.APIVersion)
	w.kv(0, false, "kind", p.Kind)
	w.open(0, false, "metadata")
	w.kv(1, false, "name", p.Metadata.Name)
	w.strMap(1, "labels", p.Metadata.Labels)
	w.open(0, false, "spec")
	w.open(1, false, "containers")
	for _, c := range p.Spec.Containers {
		w.container(c)
	}
	if len(p.Spec.Volumes) > 0 {
		w.open(1, false, "volumes")
		for _, v := range p.Spec.Volumes {
			w.volume(v)
		}
	}
}

// container writes one item of spec.containers (level 2).
func (w podWriter) container(c k8sContainer) {
	w.kv(2, true, "name", c.Name)
	w.kv(2, false, "image", c.Image)
	if len(c.Resources.Limits) == 0 && len(c.Resources.Requests) == 0 {
		w.indent(2)
		w.b.WriteString("resources: {}\n")
	} else {
		w.open(2, false, "resources")
		w.strMap(3, "limits", c.Resources.Limits)
		w.strMap(3, "requests", c.Resources.Requests)
	}
	if s := c.SecurityContext; s != nil {
		if s.RunAsUser == nil && s.RunAsGroup == nil {
			w.indent(2)
			w.b.WriteString("securityContext: {}\n")
		} else {
			w.open(2, false, "securityContext")
			if s.RunAsUser != nil {
				w.num(3, false, "runAsUser", *s.RunAsUser)
			}
			if s.RunAsGroup != nil {
				w.num(3, false, "runAsGroup", *s.RunAsGroup)
			}
		}
	}
	if len(c.Ports) > 0 {
		w.open(2, false, "ports")
		for _, p := range c.Ports {
			w.num(3, true, "containerPort", int64(p.ContainerPort))
			if p.HostPort != 0 {
				w.num(3, false, "hostPort", int64(p.HostPort))
			}
			if p.HostIP != "" {
				w.kv(3, false, "hostIP", p.HostIP)
			}
			if p.Protocol != "" {
				w.kv(3, false, "protocol", p.Protocol)
			}
		}
	}
	if len(c.Env) > 0 {
		w.open(2, false, "env")
		for _, e := range c.Env {
			w.kv(3, true, "name", e.Name)
			w.kv(3, false, "value", e.Value)
		}
	}
	if len(c.VolumeMounts) > 0 {
		w.open(2, false, "volumeMounts")
		for _, m := range c.VolumeMounts {
			w.kv(3, true, "name", m.Name)
			w.kv(3, false, "mountPath", m.MountPath)
			if m.ReadOnly {
				w.indent(3)
				w.b.WriteString("readOnly: true\n")
			}
		}
	}
}

// volume writes one item of spec.volumes (level 2).
func (w podWriter) volume(v k8sVolume) {
	w.kv(2, true, "name", v.Name)
	if e := v.EmptyDir; e != nil {
		w.open(2, false, "emptyDir")
		w.kv(3, false, "medium", e.Medium)
		if e.SizeLimit != "" {
			w.kv(3, false, "sizeLimit", e.SizeLimit)
		}
	}
	if h := v.HostPath; h != nil {
		w.open(2, false, "hostPath")
		w.kv(3, false, "path", h.Path)
		w.kv(3, false, "type", h.Type)
	}
	if p := v.Projected; p != nil {
		w.open(2, false, "projected")
		w.open(3, false, "sources")
		for _, s := range p.Sources {
			w.open(4, true, "secret")
			w.kv(5, false, "name", s.Secret.Name)
			w.open(5, false, "items")
			for _, it := range s.Secret.Items {
				w.kv(6, true, "key", it.Key)
				w.kv(6, false, "path", it.Path)
			}
		}
	}
}
