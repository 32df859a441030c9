package main

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/config"
	"github.com/tendkit/tend/rotate"
)

func TestRotateTask(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "logs", "jupyter.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(logPath), 0o755))
	require.NoError(t, os.WriteFile(logPath, []byte(strings.Repeat("a log line\n", 200)), 0o600))
	state := filepath.Join(dir, "state", "sub", "rotate.json")
	cfg, err := config.Parse("t.yaml", []byte(`
rotate:
  state: `+state+`
  files:
    - path: `+filepath.Join(dir, "logs", "jupyter*.log")+`
      size: 1KiB
      compress: gzip
      create: {mode: "0640"}
      signal: {pidfile: `+filepath.Join(dir, "none.pid")+`, name: USR1}
    - path: `+filepath.Join(dir, "missing.log")+`
      missing_ok: true
`), config.Options{Home: dir, Env: []string{}})
	require.NoError(t, err)

	tk, ok, err := newRotateTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "rotate", tk.Name())
	assert.Equal(t, "@hourly", tk.Schedule())

	plan, err := tk.Run(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, 1.0, plan.Metrics["rotations"])
	assert.Contains(t, plan.Lines[0], "would rotate 1 of 1 logs")
	assert.NoFileExists(t, logPath+".1.gz", "a dry run changes nothing")
	assert.NoDirExists(t, filepath.Dir(state))

	res, err := tk.Run(context.Background(), false)
	require.Error(t, err, "the pidfile is missing: reported as an error, after rotating")
	assert.ErrorIs(t, err, rotate.ErrNoWriter)
	rep := res.Report.(*rotate.Report)
	assert.Len(t, rep.Files, 1)
	assert.Equal(t, 1.0, res.Metrics["rotations"])
	assert.Equal(t, 2200.0, res.Metrics["bytes_compressed"])
	assert.Equal(t, 1.0, res.Metrics["errors"])
	assert.Contains(t, strings.Join(res.Lines, "\n"), "no writer to signal")
	assert.FileExists(t, state, "state directory created")

	f, err := os.Open(logPath + ".1.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("a log line\n", 200), string(b))
	st, err := os.Stat(logPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "created with create.mode")
	assert.Zero(t, st.Size())
}

func TestRotateTaskConfigErrors(t *testing.T) {
	_, ok, err := newRotateTask(&config.Config{}, nil)
	require.NoError(t, err)
	assert.False(t, ok)

	tk, ok, err := newRotateTask(&config.Config{Rotate: &config.Rotate{Files: []config.RotateFile{{Path: "/x.log"}}}}, nil)
	require.NoError(t, err)
	require.True(t, ok)
	r := tk.(*rotateTask).rotator
	assert.Equal(t, "/var/lib/tend/rotate.json", r.State)
	assert.Equal(t, 7, r.Rules[0].Keep, "keep defaults to 7")

	_, _, err = newRotateTask(&config.Config{Rotate: &config.Rotate{Files: []config.RotateFile{
		{Path: "/x.log", Create: &config.Create{Owner: "no-such-user-tend"}}}}}, nil)
	assert.ErrorContains(t, err, `rotate.files[0]: create.owner "no-such-user-tend"`)

	for _, tc := range []struct{ yaml, field, msg string }{
		{"rotate:\n  files:\n    - path: /x.log\n      create: {mode: \"0999\"}\n", "rotate.files[0].create.mode", "octal"},
		{"rotate:\n  files:\n    - path: /x.log\n      signal: {pidfile: /p, name: BOGUS}\n", "rotate.files[0].signal.name", "BOGUS"},
		{"rotate:\n  files:\n    - path: /x.log\n      method: copytruncate\n      signal: {pidfile: /p}\n", "rotate.files[0].signal", "nothing to signal"},
		{"rotate:\n  files:\n    - path: /x.log\n      size: 0\n", "rotate.files[0].size", "0 bytes"},
	} {
		_, err := config.Parse("t.yaml", []byte(tc.yaml), config.Options{Env: []string{}})
		require.Error(t, err, tc.yaml)
		assert.ErrorContains(t, err, tc.field)
		assert.ErrorContains(t, err, tc.msg)
	}
}
