package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/internal/testenv"
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

// TestBinaryOnceOnlyRotate runs the built tend-cron as a user would:
// `--once --only rotate --dry-run` prints the plan and changes nothing;
// `--once --only rotate --json` rotates a log written by a real sh process
// (renamed, recreated, the writer signalled through its pidfile and
// reopening) and one with copytruncate, and reports it in JSON.
func TestBinaryOnceOnlyRotate(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	dir := t.TempDir()
	daemonLog := filepath.Join(dir, "logs", "daemon.log")
	appLog := filepath.Join(dir, "logs", "app.log")
	pidfile := filepath.Join(dir, "daemon.pid")
	require.NoError(t, os.MkdirAll(filepath.Dir(daemonLog), 0o755))
	// Over 4x size: copytruncate does not wait for a line end on a block
	// boundary any longer.
	require.NoError(t, os.WriteFile(appLog, []byte(strings.Repeat("app line\n", 600)), 0o644))
	writer := exec.Command(sh, "-c", `exec 3>>"$LOG"; echo $$ >"$PIDFILE"
trap 'exec 3>>"$LOG"' HUP
while :; do echo "daemon line" >&3; sleep 0.01; done`)
	writer.Env = append(os.Environ(), "LOG="+daemonLog, "PIDFILE="+pidfile)
	require.NoError(t, writer.Start())
	t.Cleanup(func() { writer.Process.Kill(); writer.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.Stat(daemonLog)
		_, perr := os.Stat(pidfile)
		if err == nil && st.Size() > 0 && perr == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the sh writer started")
		time.Sleep(5 * time.Millisecond)
	}
	conf := filepath.Join(dir, "tend.yaml")
	writeConfig(t, conf, `rotate:
  state: `+filepath.Join(dir, "state", "rotate.json")+`
  files:
    - path: `+daemonLog+`
      keep: 3
      compress: zstd
      create: {mode: "0600"}
      signal: {pidfile: `+pidfile+`}
    - path: `+filepath.Join(dir, "logs", "app*.log")+`
      size: 1KiB
      method: copytruncate
      compress: gzip
`)
	p := startProc(t, nil, "--config", conf, "--once", "--only", "rotate", "--dry-run")
	require.Equal(t, 0, p.wait(t), "dry run: %s", p.stderr.String())
	out := p.stdout.String()
	assert.Contains(t, out, "would rotate 2 of 2 logs")
	assert.Contains(t, out, "would rename "+daemonLog+" -> "+daemonLog+".1")
	assert.Contains(t, out, "would signal "+pidfile+" (SIGHUP)")
	assert.Contains(t, out, "would copy "+appLog+" -> "+appLog+".1.gz")
	assert.NoFileExists(t, daemonLog+".1")
	assert.NoFileExists(t, appLog+".1.gz")
	assert.NoDirExists(t, filepath.Join(dir, "state"), "a dry run writes no state")

	p = startProc(t, nil, "--config", conf, "--once", "--only", "rotate", "--json")
	require.Equal(t, 0, p.wait(t), "stdout: %s\nstderr: %s", p.stdout.String(), p.stderr.String())
	var doc struct {
		OK    bool `json:"ok"`
		Tasks []struct {
			Task    string             `json:"task"`
			Metrics map[string]float64 `json:"metrics"`
			Report  rotate.Report      `json:"report"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.stdout.String()), &doc), p.stdout.String())
	require.True(t, doc.OK)
	require.Len(t, doc.Tasks, 1)
	assert.Equal(t, "rotate", doc.Tasks[0].Task)
	assert.Equal(t, 2.0, doc.Tasks[0].Metrics["rotations"])
	var signalled string
	for _, f := range doc.Tasks[0].Report.Files {
		for _, a := range f.Actions {
			if a.Op == rotate.OpSignal {
				signalled = a.Detail
			}
		}
	}
	assert.Equal(t, "SIGHUP sent to pid "+strconv.Itoa(writer.Process.Pid), signalled)
	assert.FileExists(t, daemonLog+".1.zst")
	assert.FileExists(t, appLog+".1.gz")
	assert.FileExists(t, filepath.Join(dir, "state", "rotate.json"))
	st, err := os.Stat(daemonLog)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	// The writer reopened: its new lines go to the new file.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := os.Stat(daemonLog); err == nil && st.Size() > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the writer reopened its log after SIGHUP")
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRotateTaskKeepZero: keep: 0 keeps no backup, as logrotate's
// `rotate 0` does on a copy of the same log; keep left out keeps 7.
func TestRotateTaskKeepZero(t *testing.T) {
	logrotate := testenv.LookPath(t, "logrotate", "logrotate")
	dir := t.TempDir()
	content := []byte(strings.Repeat("a log line\n", 200))
	for _, n := range []string{"tend", "peer"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, n), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, n, "app.log"), content, 0o644))
	}
	cfg, err := config.Parse("t.yaml", []byte(`
rotate:
  state: `+filepath.Join(dir, "state.json")+`
  files:
    - {path: `+filepath.Join(dir, "tend", "app.log")+`, size: 1KiB, keep: 0, compress: none, method: rename}
`), config.Options{Home: dir, Env: []string{}})
	require.NoError(t, err)
	tk, ok, err := newRotateTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 0, tk.(*rotateTask).rotator.Rules[0].Keep)
	_, err = tk.Run(context.Background(), false)
	require.NoError(t, err)

	conf := filepath.Join(dir, "logrotate.conf")
	require.NoError(t, os.WriteFile(conf, []byte(filepath.Join(dir, "peer", "app.log")+" {\n  size 1k\n  rotate 0\n  create\n}\n"), 0o644))
	out, err := exec.Command(logrotate, "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput()
	require.NoError(t, err, "%s", out)

	for _, n := range []string{"tend", "peer"} {
		ents, err := os.ReadDir(filepath.Join(dir, n))
		require.NoError(t, err)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		assert.Equal(t, []string{"app.log"}, names, "%s keeps no backup", n)
		st, err := os.Stat(filepath.Join(dir, n, "app.log"))
		require.NoError(t, err)
		assert.Zero(t, st.Size(), "%s started a new, empty log", n)
	}
}

// TestRotateNonRootWithoutStateFails runs tend-cron as nobody with a state
// file in a directory only root may write: nothing is rotated, the run is
// a failure (exit 1, "ok": false), not a skipped permission.
func TestRotateNonRootWithoutStateFails(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "switching to nobody needs root")
	}
	dir, err := os.MkdirTemp("", "tend-rotate-nonroot-") // t.TempDir's parent is 0700
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	logs := filepath.Join(dir, "logs")
	require.NoError(t, os.Mkdir(logs, 0o777))
	require.NoError(t, os.Chmod(logs, 0o777))
	logPath := filepath.Join(logs, "app.log")
	require.NoError(t, os.WriteFile(logPath, []byte(strings.Repeat("a log line\n", 200)), 0o666))
	require.NoError(t, os.Chmod(logPath, 0o666))
	stateDir := filepath.Join(dir, "state")
	require.NoError(t, os.Mkdir(stateDir, 0o755))
	cfgPath := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfgPath, "rotate:\n  state: "+filepath.Join(stateDir, "rotate.json")+"\n  files:\n    - path: "+logPath+"\n      size: 1KiB\n")
	require.NoError(t, os.Chmod(cfgPath, 0o644))
	p := startProc(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}},
		"--config", cfgPath, "--once", "--only", "rotate", "--json")
	code := p.wait(t)
	assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", p.stdout.String(), p.stderr.String())
	var doc struct {
		OK bool `json:"ok"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.stdout.String()), &doc), p.stdout.String())
	assert.False(t, doc.OK)
	assert.NoFileExists(t, logPath+".1", "nothing rotated without the state")
}

func TestStuckWritersMetricHasItsOwnHelp(t *testing.T) {
	d := counterFor("stuck_writers")
	assert.Equal(t, "tend_stuck_writers_total", d.name)
	assert.Contains(t, d.help, "never reopened", "not the generic help of an unknown key")
}
