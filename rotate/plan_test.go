package rotate

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	loc := time.Local
	at := func(d, h int) time.Time { return time.Date(2025, 3, d, h, 30, 0, 0, loc) }
	const day = 24 * time.Hour
	cases := []struct {
		name  string
		rule  Rule
		size  int64
		last  time.Time
		known bool
		now   time.Time
		force bool
		want  bool
		why   string
	}{
		{"size reached", Rule{Size: 100}, 100, at(1, 0), true, at(1, 1), false, true, "size 100B >= 100B"},
		{"size not reached", Rule{Size: 100}, 99, at(1, 0), true, at(9, 0), false, false, "not due (size 99B < 100B)"},
		{"empty, notifempty", Rule{Size: 1}, 0, at(1, 0), true, at(9, 0), false, false, "empty (if_empty is false)"},
		{"empty, ifempty, daily", Rule{Every: day, IfEmpty: true}, 0, at(1, 23), true, at(2, 0), false, true, "every 1d"},
		{"daily: after midnight", Rule{Every: day}, 10, at(1, 23), true, at(2, 0), false, true, "every 1d"},
		{"daily: same day", Rule{Every: day}, 10, at(2, 0), true, at(2, 23), false, false, "not due"},
		{"weekly: 6 days", Rule{Every: 7 * day}, 10, at(1, 0), true, at(7, 23), false, false, "not due"},
		{"weekly: 7 days", Rule{Every: 7 * day}, 10, at(1, 23), true, at(8, 0), false, true, "every 1w"},
		{"6h elapsed", Rule{Every: 6 * time.Hour}, 10, at(1, 0), true, at(1, 6), false, true, "every 6h"},
		{"6h not elapsed", Rule{Every: 6 * time.Hour}, 10, at(1, 0), true, at(1, 5), false, false, "not due"},
		{"first seen starts the clock", Rule{Every: day}, 10, time.Time{}, false, at(9, 0), false, false, "first seen"},
		{"both: size fires", Rule{Size: 100, Every: day}, 150, at(2, 0), true, at(2, 1), false, true, "size"},
		{"both: time fires", Rule{Size: 100, Every: day}, 5, at(1, 0), true, at(2, 1), false, true, "every 1d"},
		{"both: neither", Rule{Size: 100, Every: day}, 5, at(2, 0), true, at(2, 1), false, false, "not due (size"},
		{"neither set: every run", Rule{}, 5, at(2, 0), true, at(2, 0), false, true, "every run rotates"},
		{"force", Rule{Size: 1 << 30}, 5, at(2, 0), true, at(2, 0), true, true, "forced"},
		{"force, empty", Rule{Size: 1 << 30}, 0, at(2, 0), true, at(2, 0), true, false, "empty"},
		{"clock went back", Rule{Every: day}, 5, at(9, 0), true, at(2, 0), false, true, "clock went back"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := decide(tc.rule, tc.size, tc.last, tc.known, tc.now, tc.force)
			assert.Equal(t, tc.want, got, why)
			assert.Contains(t, why, tc.why)
		})
	}
}

// TestGlobMaxAgeAndKeep rotates every log a glob matches (never its
// backups), keeps Keep backups and deletes, on every run, backups last
// written longer ago than MaxAge.
func TestGlobMaxAgeAndKeep(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, age time.Duration) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		when := time.Now().Add(-age)
		require.NoError(t, os.Chtimes(p, when, when))
	}
	write("a.log", "a now\n", 0)
	write("a.log.1", "a 1\n", 2*time.Hour)
	write("a.log.2.gz", "not really gzip\n", 50*time.Hour) // older than max_age
	write("b.log", "b now\n", 0)
	write("b.log.1", "b 1\n", time.Hour)
	write("b.log.2", "b 2\n", 2*time.Hour)
	write("b.log.3", "b 3\n", 3*time.Hour) // beyond keep 3 after the shift
	write("c.txt", "not a log\n", 0)
	r := &Rotator{State: filepath.Join(dir, "state.json"), Rules: []Rule{{
		Path: filepath.Join(dir, "*.log*"), Size: 1, Keep: 3, MaxAge: 48 * time.Hour, Create: &Create{UID: -1, GID: -1},
	}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err)
	var paths []string
	for _, f := range rep.Files {
		paths = append(paths, filepath.Base(f.Path))
	}
	assert.Equal(t, []string{"a.log", "b.log"}, paths, "the glob matches live logs, not backups")
	assert.Equal(t, 2, rep.Rotations())
	assert.Equal(t, 2, rep.Deleted(), "a.log.2.gz (max_age) and b.log.3 (keep)")
	ls := func() []string {
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	assert.Equal(t, []string{"a.log", "a.log.1", "a.log.2", "b.log", "b.log.1", "b.log.2", "b.log.3", "c.txt", "state.json", "state.json.lock"}, ls())
	b, err := os.ReadFile(filepath.Join(dir, "b.log.3"))
	require.NoError(t, err)
	assert.Equal(t, "b 2\n", string(b))

	// A run with nothing to rotate still applies max_age.
	when := time.Now().Add(-49 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "b.log.3"), when, when))
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Rotations(), "the new logs are empty")
	assert.Equal(t, 1, rep.Deleted())
	assert.NoFileExists(t, filepath.Join(dir, "b.log.3"))
}
