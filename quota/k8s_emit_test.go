package quota

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/units"
)

// TestPodWriterMatchesDump: the hand-written Pod writer and yaml.Dump of
// the same Pod decode to the same document for random users with hostile
// strings (quotes, newlines, tabs, unicode, numbers, booleans, '#', ': ',
// leading spaces, long lines), and are the same bytes where no string is
// multi-line or longer than a line.
func TestPodWriterMatchesDump(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	hostile := []string{
		"", " ", "plain", "1", "0x10", "1e3", "1.5", ".inf", "yes", "no", "on", "off", "y", "true", "null", "~", "-",
		"a: b", "a #b", "#x", "'quoted'", `"dq"`, "it's", "tab\there", "line1\nline2", "trailing\n", " lead", "trail ",
		"ünï©ødé", "emoji \U0001F600", "back\\slash", "$USER@bob$ ", "@at", "`tick`", "*star", "&amp", "!bang", "%pct",
		"[x]", "{y}", "a,b", "? q", "| p", "> f", "---", "...", "2026-11-28", "12:30", "0o17", "+1", "-1", "\x7f",
		strings.Repeat("long words ", 12), strings.Repeat("x", 200),
	}
	pick := func() string { return hostile[r.IntN(len(hostile))] }
	same := 0
	for n := range 400 {
		q := QuotaSpec{Name: fmt.Sprintf("u%d", n), Image: "busybox:1", IPC: []string{"", "host"}[r.IntN(2)]}
		if r.IntN(2) == 0 {
			q.Memory, q.MemoryReservation = units.GiB, units.Size(r.IntN(2))*units.MiB*512
		}
		if r.IntN(2) == 0 {
			q.CPUs = NanoCPUs(r.IntN(8)+1) * 5e8
		}
		if r.IntN(3) == 0 {
			q.GPUs.IDs = []string{"0", "1"}[:r.IntN(2)+1]
		}
		if r.IntN(3) == 0 {
			q.User = []string{"1000:1000", "1000", "jovyan", "0:0"}[r.IntN(4)]
		}
		if r.IntN(3) == 0 {
			q.Ports = []PortMapping{{Host: 8080, Container: 80, IP: "127.0.0.1", Protocol: "udp"}, {Host: 2222, Container: 22}}
		}
		if r.IntN(2) == 0 {
			q.Port = 8888
		}
		q.Env = map[string]string{}
		for range r.IntN(6) {
			q.Env[fmt.Sprintf("K%d", r.IntN(100))] = pick()
		}
		if r.IntN(2) == 0 {
			q.Workspace = "/data/" + q.Name
			q.Volumes = []Volume{{Source: "/d/" + pick(), Target: "/t", ReadOnly: r.IntN(2) == 0}}
		}
		if r.IntN(3) == 0 {
			q.Secrets = []Secret{{Name: "tok_en", File: "/etc/tok"}, {Name: "b", File: "/etc/b"}}[:r.IntN(2)+1]
		}
		pod := k8sPodOf(q)
		want, err := yaml.Dump(pod, yaml.WithIndent(2))
		require.NoError(t, err)
		var b bytes.Buffer
		podWriter{b: &b}.pod(pod)
		var gotDoc, wantDoc any
		require.NoError(t, yaml.Load(b.Bytes(), &gotDoc), "%s", b.String())
		require.NoError(t, yaml.Load(want, &wantDoc))
		require.Equal(t, wantDoc, gotDoc, "user %d:\n%s\nyaml.Dump:\n%s", n, b.String(), want)
		if !multiLine(q) {
			same++
			assert.Equal(t, string(want), b.String(), "user %d: same bytes", n)
		}
	}
	assert.Greater(t, same, 100, "most users compared byte for byte")
}

// multiLine reports whether yaml.Dump may write one of q's strings on
// several lines (or in a style the writer does not copy).
func multiLine(q QuotaSpec) bool {
	for _, v := range q.Env {
		if quoteScalar(v) != mustDumpScalar(v) {
			return true
		}
	}
	for _, v := range q.Volumes {
		if quoteScalar(v.Source) != mustDumpScalar(v.Source) {
			return true
		}
	}
	return false
}

func mustDumpScalar(s string) string {
	out, _ := yaml.Dump(s)
	return strings.TrimSuffix(string(out), "\n")
}
