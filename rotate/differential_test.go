package rotate

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// diffStep is one moment of a differential case: append bytes to the log
// (or remove it), move the recorded last rotation back, then run both.
type diffStep struct {
	write   int  // bytes of numbered lines to append
	remove  bool // delete the live log before the run
	daysAgo int  // >0: both state files say the log was rotated this many days ago
}

type diffCase struct {
	name     string
	conf     string // logrotate directives
	rule     Rule
	force    bool
	pre      []string // backups that exist before the first step (base-relative names)
	steps    []diffStep
	wantErr  bool
	wantMode os.FileMode // create: mode of the new live log
}

func TestDifferentialLogrotate(t *testing.T) {
	lr := testenv.LookPath(t, "logrotate", "logrotate")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "logrotate insists on root-owned state and config: run as root")
	}
	w := func(n int) diffStep { return diffStep{write: n} }
	day := func(n int) diffStep { return diffStep{write: n, daysAgo: 1} }
	cases := []diffCase{
		{name: "size", conf: "size 1000\nrotate 5", rule: Rule{Size: 1000, Keep: 5},
			steps: []diffStep{w(500), w(700), w(300), w(2000), w(10), w(1500), w(1500)}},
		{name: "daily", conf: "daily\nrotate 2", rule: Rule{Every: 24 * time.Hour, Keep: 2},
			steps: []diffStep{w(100), day(100), w(100), day(100), day(50), day(70), w(10)}},
		{name: "compress", conf: "size 1000\nrotate 3\ncompress", rule: Rule{Size: 1000, Keep: 3, Compress: CompressionGzip},
			steps: []diffStep{w(1200), w(1300), w(1400), w(1500), w(1600)}},
		{name: "delaycompress", conf: "size 1000\nrotate 3\ncompress\ndelaycompress", rule: Rule{Size: 1000, Keep: 3, Compress: CompressionGzip, DelayCompress: true},
			steps: []diffStep{w(1200), w(1300), w(1400), w(1500), w(1600)}},
		{name: "dateext", conf: "daily\nrotate 2\ndateext\ncompress", rule: Rule{Every: 24 * time.Hour, Keep: 2, DateExt: true, Compress: CompressionGzip},
			pre:   []string{"-20200101.gz", "-20200102.gz", "-20200103.gz"},
			steps: []diffStep{w(100), day(300)}},
		{name: "missingok", conf: "size 10\nrotate 2\nmissingok", rule: Rule{Size: 10, Keep: 2, MissingOK: true},
			steps: []diffStep{w(100), {remove: true}}},
		{name: "missing", conf: "size 10\nrotate 2", rule: Rule{Size: 10, Keep: 2},
			steps: []diffStep{{remove: true}}, wantErr: true},
		{name: "notifempty", conf: "daily\nrotate 2\nnotifempty", rule: Rule{Every: 24 * time.Hour, Keep: 2},
			steps: []diffStep{w(0), day(0), day(40)}},
		{name: "ifempty", conf: "daily\nrotate 2\nifempty", rule: Rule{Every: 24 * time.Hour, Keep: 2, IfEmpty: true},
			steps: []diffStep{w(0), day(0), day(40)}},
		{name: "create", conf: "size 100\nrotate 2\ncreate 0640 root root", rule: Rule{Size: 100, Keep: 2, Create: &Create{Mode: 0o640, UID: 0, GID: 0}},
			steps: []diffStep{w(300), w(20), w(300)}, wantMode: 0o640},
		{name: "force", conf: "size 100000\nrotate 3\ncompress", rule: Rule{Size: 100000, Keep: 3, Compress: CompressionGzip, IfEmpty: true}, force: true,
			steps: []diffStep{w(300), w(20), w(0), w(300), w(30)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := t.TempDir() // logrotate's
			b := t.TempDir() // tend's
			for _, d := range []string{a, b} {
				for _, p := range tc.pre {
					writeGzip(t, filepath.Join(d, "app.log"+strings.TrimSuffix(p, ".gz")+".gz"), "old "+p+"\n")
				}
			}
			logA, logB := filepath.Join(a, "app.log"), filepath.Join(b, "app.log")
			conf := filepath.Join(a, "logrotate.conf")
			require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "%s {\n%s\n}\n", logA, tc.conf), 0o644))
			stateA := filepath.Join(a, "..", filepath.Base(a)+".lrstate")
			t.Cleanup(func() { os.Remove(stateA) })
			rule := tc.rule
			rule.Path = logB
			rot := &Rotator{Rules: []Rule{rule}, State: filepath.Join(b, "..", filepath.Base(b)+".state"), Force: tc.force}
			t.Cleanup(func() { os.Remove(rot.State); os.Remove(rot.State + ".lock") })
			line := 0
			for i, s := range tc.steps {
				if s.remove {
					os.Remove(logA)
					os.Remove(logB)
				} else {
					text := numbered(&line, s.write)
					appendFile(t, logA, text)
					appendFile(t, logB, text)
				}
				if s.daysAgo > 0 {
					when := time.Now().Add(-time.Duration(s.daysAgo) * 24 * time.Hour)
					require.NoError(t, os.WriteFile(stateA, fmt.Appendf(nil, "logrotate state -- version 2\n%q %s\n", logA, when.Format("2006-1-2-15:4:5")), 0o644))
					st := stateFile{Version: stateVersion, Files: map[string]fileRecord{logB: {LastRotated: when}}}
					writeJSON(t, rot.State, st)
				}
				args := []string{"-s", stateA}
				if tc.force {
					args = append(args, "-f")
				}
				out, lrErr := exec.Command(lr, append(args, conf)...).CombinedOutput()
				_, tendErr := rot.Rotate(context.Background())
				if tc.wantErr {
					assert.Error(t, lrErr, "step %d: logrotate", i)
					assert.Error(t, tendErr, "step %d: tend", i)
				} else {
					require.NoError(t, lrErr, "step %d: logrotate: %s", i, out)
					require.NoError(t, tendErr, "step %d: tend", i)
				}
				assert.Equal(t, snapshot(t, a), snapshot(t, b), "step %d: files after both runs", i)
			}
			if !strings.HasPrefix(tc.name, "missing") {
				snap := snapshot(t, b)
				delete(snap, "app.log")
				assert.NotEmpty(t, snap, "the case rotated at least once")
			}
			if tc.wantMode != 0 {
				st, err := os.Stat(logB)
				require.NoError(t, err)
				assert.Equal(t, tc.wantMode, st.Mode().Perm())
			}
		})
	}
}

// numbered returns n bytes of numbered lines, continuing from *line.
func numbered(line *int, n int) string {
	var b strings.Builder
	for b.Len() < n {
		*line++
		fmt.Fprintf(&b, "line %07d\n", *line)
	}
	return b.String()
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func writeGzip(t *testing.T, path, text string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(text))
	zw.Close()
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// snapshot maps each log file in dir (not configs or states) to its
// decompressed contents, with the name's date part made generic.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "app.log") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		b = decompress(t, e.Name(), b)
		out[e.Name()] = string(b)
	}
	return out
}

func decompress(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	if !strings.HasSuffix(name, ".gz") && !strings.HasSuffix(name, ".zst") {
		return b
	}
	r, err := newDecoder(Compression(strings.TrimPrefix(filepath.Ext(name), ".")), bytes.NewReader(b))
	require.NoError(t, err, name)
	d, err := io.ReadAll(r)
	require.NoError(t, err, name)
	return d
}

func writeJSON(t *testing.T, path string, v stateFile) {
	t.Helper()
	s := &stateStore{path: path, state: v, dirty: true}
	require.NoError(t, s.save())
}
