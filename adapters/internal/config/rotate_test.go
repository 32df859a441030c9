package config

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/rotate"
)

func TestRotateSectionFromDesign(t *testing.T) {
	cfg, err := Parse("tend.yaml", []byte(`rotate:
  schedule: "@hourly"
  state: /var/lib/tend/rotate.json
  files:
    - path: /var/log/jupyter*.log
      size: 100MiB
      every: 24h
      keep: 7
      max_age: 30d
      compress: zstd
      delay_compress: false
      method: rename
      missing_ok: true
      if_empty: false
      create: {mode: "0644", owner: jupyter, group: jupyter}
      signal: {pidfile: /var/run/jupyter.pid, name: HUP}
    - path: ~/train.log
      method: copytruncate
      date_ext: true
      postrotate: {command: [kill, -USR1, "1"], timeout: 30s}
`), Options{Home: "/home/u", Env: []string{}})
	require.NoError(t, err)
	r := cfg.Rotate
	require.NotNil(t, r)
	assert.Equal(t, "@hourly", r.Schedule)
	require.Len(t, r.Files, 2)
	f := r.Files[0]
	assert.Equal(t, Path("/var/log/jupyter*.log"), f.Path)
	require.NotNil(t, f.Size)
	assert.Equal(t, int64(100<<20), f.Size.Bytes())
	assert.Equal(t, 24*time.Hour, f.Every.D())
	assert.Equal(t, 30*24*time.Hour, f.MaxAge.D())
	require.NotNil(t, f.Keep)
	assert.Equal(t, 7, *f.Keep)
	assert.Nil(t, r.Files[1].Keep, "left out: the task's default applies")
	assert.Equal(t, &Create{Mode: "0644", Owner: "jupyter", Group: "jupyter"}, f.Create)
	assert.Equal(t, &Signal{Pidfile: "/var/run/jupyter.pid", Name: "HUP"}, f.Signal)
	assert.Equal(t, Path("/home/u/train.log"), r.Files[1].Path, "~ expands")
	assert.True(t, r.Files[1].DateExt)
	assert.Equal(t, &PostRotate{Command: []string{"kill", "-USR1", "1"}, Timeout: Duration(30 * time.Second)}, r.Files[1].PostRotate)
}

func TestRotateSectionErrors(t *testing.T) {
	for _, tc := range []struct{ name, item, field, msg string }{
		{"no path", "keep: 3", "rotate.files[0].path", ""},
		{"bad glob", "path: /var/log/[x.log", "rotate.files[0].path", "[x.log"},
		{"negative keep", "path: /x.log\n      keep: -2", "rotate.files[0].keep", "-2"},
		{"codec", "path: /x.log\n      compress: lz4", "rotate.files[0].compress", "lz4"},
		{"method", "path: /x.log\n      method: move", "rotate.files[0].method", "move"},
		{"zero size", "path: /x.log\n      size: 0", "rotate.files[0].size", "0 bytes"},
		{"empty postrotate", "path: /x.log\n      postrotate: {command: []}", "rotate.files[0].postrotate.command", "is empty"},
		{"negative postrotate timeout", "path: /x.log\n      postrotate:\n        command: [true]\n        timeout: -1s", "rotate.files[0].postrotate.timeout", "negative"},
		{"negative size", "path: /x.log\n      size: -5MiB", "rotate.files[0].size", "-5MiB"},
		{"negative every", "path: /x.log\n      every: -1h", "rotate.files[0].every", "-1h"},
		{"negative max_age", "path: /x.log\n      max_age: -3d", "rotate.files[0].max_age", "-3d"},
		{"mode", "path: /x.log\n      create: {mode: \"rw-r--r--\"}", "rotate.files[0].create.mode", "rw-r--r--"},
		{"signal name", "path: /x.log\n      signal: {pidfile: /p, name: HUPP}", "rotate.files[0].signal.name", "HUPP"},
		{"no pidfile", "path: /x.log\n      signal: {name: HUP}", "rotate.files[0].signal.pidfile", ""},
		{"signal with copytruncate", "path: /x.log\n      method: copytruncate\n      signal: {pidfile: /p}", "rotate.files[0].signal", "nothing to signal"},
		{"create with copytruncate", "path: /x.log\n      method: copytruncate\n      create: {mode: \"0600\"}", "rotate.files[0].create", "rename only"},
		{"unknown key", "path: /x.log\n      rotate: 5", "rotate", "rotate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("tend.yaml", []byte("rotate:\n  files:\n    - "+tc.item+"\n"), Options{Env: []string{}})
			require.Error(t, err)
			assert.ErrorContains(t, err, "tend.yaml:")
			assert.ErrorContains(t, err, tc.field)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
}

// TestRotateRuleIsTheWholeConversion: the rule tend-cron runs comes from
// RotateRule alone (tend-cron only looks up create's owner and group).
func TestRotateRuleIsTheWholeConversion(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(`rotate:
  files:
    - path: /var/log/app.log
      size: 10m
      create: {mode: "0640", owner: root}
      signal: {pidfile: /run/app.pid, name: USR1}
      postrotate: {command: [true], timeout: 5s}
    - path: /var/log/b.log
      method: copytruncate
      keep: 0
`), noEnv)
	require.NoError(t, err)
	a := cfg.Rotate.Files[0].RotateRule()
	assert.Equal(t, rotate.DefaultKeep, a.Keep, "keep left out")
	assert.Equal(t, int64(10<<20), a.Size)
	assert.Equal(t, &rotate.Create{Mode: 0o640, UID: -1, GID: -1}, a.Create, "names are looked up by tend-cron")
	assert.Equal(t, &rotate.Signal{Pidfile: "/run/app.pid", Signal: syscall.SIGUSR1}, a.Signal)
	assert.Equal(t, &rotate.Command{Argv: []string{"true"}, Timeout: 5 * time.Second}, a.PostRotate)
	b := cfg.Rotate.Files[1].RotateRule()
	assert.Nil(t, b.Create, "copytruncate keeps the live file")
	assert.Equal(t, 0, b.Keep)
}
