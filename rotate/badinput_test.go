package rotate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

func rotateOnce(t *testing.T, rules ...Rule) (*Report, error) {
	t.Helper()
	r := &Rotator{Rules: rules, State: filepath.Join(t.TempDir(), "state.json")}
	return r.Rotate(context.Background())
}

func TestRefusesSymlinkAndDirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.log")
	require.NoError(t, os.WriteFile(target, []byte("data\n"), 0o644))
	link := filepath.Join(dir, "link.log")
	require.NoError(t, os.Symlink(target, link))
	sub := filepath.Join(dir, "dir.log")
	require.NoError(t, os.Mkdir(sub, 0o755))

	rep, err := rotateOnce(t, Rule{Path: link, Keep: 2}, Rule{Path: sub, Keep: 2})
	require.Error(t, err)
	require.Len(t, rep.Files, 2)
	assert.Contains(t, rep.Files[0].Error, "symbolic link")
	assert.Contains(t, rep.Files[1].Error, "directory")
	assert.NoFileExists(t, target+".1")
	assert.NoFileExists(t, link+".1")
	b, _ := os.ReadFile(target)
	assert.Equal(t, "data\n", string(b), "the link's target is untouched")
}

func TestSignalProblemsAreReported(t *testing.T) {
	dir := t.TempDir()
	sleeper := exec.Command("sleep", "30")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	cases := []struct{ name, pidfile, want string }{
		{"garbage", "not a pid\x00\xff", "not a process id"},
		{"negative", "-5", "not a process id"},
		{"dead", strconv.Itoa(dead.Process.Pid), "no such process"},
		{"not open", strconv.Itoa(sleeper.Process.Pid), "does not have the log open"},
		{"missing", "", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".log")
			require.NoError(t, os.WriteFile(path, []byte("x\n"), 0o644))
			pidfile := path + ".pid"
			if tc.pidfile != "" {
				require.NoError(t, os.WriteFile(pidfile, []byte(tc.pidfile), 0o644))
			}
			rep, err := rotateOnce(t, Rule{Path: path, Keep: 2, Signal: &Signal{Pidfile: pidfile}})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNoWriter)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, 1, rep.Rotations(), "the log is rotated all the same")
			assert.FileExists(t, path+".1")
		})
	}
	// The sleeper was never signalled.
	assert.NoError(t, sleeper.Process.Signal(syscall.Signal(0)))
}

func TestUnwritableDirectory(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	path := filepath.Join(dir, "app.log")
	require.NoError(t, os.WriteFile(path, []byte("keep me\n"), 0o644))
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		testenv.Missing(t, "cannot remount a tmpfs read-only: %v", err)
	}
	for _, m := range []Method{MethodRename, MethodCopyTruncate} {
		rep, err := rotateOnce(t, Rule{Path: path, Keep: 2, Method: m, Compress: CompressionGzip})
		require.Error(t, err, m)
		assert.ErrorIs(t, err, syscall.EROFS, m)
		assert.Equal(t, 0, rep.Rotations(), m)
		b, _ := os.ReadFile(path)
		assert.Equal(t, "keep me\n", string(b))
	}
}

func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	path := filepath.Join(dir, "app.log")
	line := 0
	text := numbered(&line, 700<<10)
	appendFile(t, path, text)

	// copytruncate: the copy does not fit; the live log keeps everything.
	rep, err := rotateOnce(t, Rule{Path: path, Keep: 2, Method: MethodCopyTruncate})
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, 0, rep.Rotations())
	b, _ := os.ReadFile(path)
	assert.Equal(t, text, string(b))

	// rename fits (no copy), compression of the backup does not: the plain
	// backup stays, and no partial .gz is visible.
	incompressible := make([]byte, 100<<10)
	f, _ := os.Open("/dev/urandom")
	f.Read(incompressible)
	f.Close()
	appendFile(t, path, string(incompressible))
	rep, err = rotateOnce(t, Rule{Path: path, Keep: 2, Compress: CompressionGzip})
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, 1, rep.Rotations())
	assert.FileExists(t, path+".1")
	assert.NoFileExists(t, path+".1.gz")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		assert.NotContains(t, e.Name(), "tend-tmp")
	}
	b, _ = os.ReadFile(path + ".1")
	assert.Equal(t, text+string(incompressible), string(b))
}

func TestCorruptStateIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(path, []byte("x\n"), 0o644))
	require.NoError(t, os.WriteFile(state, []byte("\x00garbage{"), 0o644))
	r := &Rotator{Rules: []Rule{{Path: path, Keep: 2, Size: 1}}, State: state}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Rotations())
	b, err := os.ReadFile(state)
	require.NoError(t, err)
	st, err := parseState(b)
	require.NoError(t, err)
	assert.Contains(t, st.Files, path)
}

func TestLockedLogIsSkipped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	require.NoError(t, os.WriteFile(path, []byte("x\n"), 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	rep, err := rotateOnce(t, Rule{Path: path, Keep: 2})
	assert.ErrorIs(t, err, ErrLocked)
	assert.Equal(t, 0, rep.Rotations())
	assert.NoFileExists(t, path+".1")
}

func TestBadRules(t *testing.T) {
	for _, r := range []Rule{
		{Path: "/x.log", Size: -1},
		{Path: "/x.log", Keep: -1},
		{Path: "/x.log", Compress: "lz4"},
		{Path: "/x.log", Method: "move"},
		{},
	} {
		_, err := rotateOnce(t, r)
		assert.Error(t, err, "%+v", r)
	}
}

func TestDryRunIsThePlan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	for _, n := range []string{"app.log", "app.log.1", "app.log.2.gz", "app.log.3.gz"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(n+"\n"), 0o644))
	}
	r := &Rotator{Rules: []Rule{{Path: path, Keep: 2, Size: 1, Compress: CompressionGzip, DelayCompress: true}}, State: filepath.Join(dir, "s.json")}
	plan, err := r.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, plan.DryRun)
	assert.NoFileExists(t, r.State, "a dry run writes nothing")
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err)
	rep.DryRun = true
	for i := range rep.Files {
		for j := range rep.Files[i].Actions {
			rep.Files[i].Actions[j].Detail = plan.Files[i].Actions[j].Detail
			if a := rep.Files[i].Actions[j]; a.Op == OpCompress {
				assert.Positive(t, a.Compressed, "the run reports the compressed size")
				rep.Files[i].Actions[j].Compressed = 0 // known only once done
			}
		}
	}
	assert.Equal(t, plan, rep, "the run did what the plan said")
	var ops []string
	for _, a := range plan.Files[0].Actions {
		ops = append(ops, string(a.Op)+" "+filepath.Base(a.Path))
	}
	assert.Equal(t, []string{"delete app.log.2.gz", "delete app.log.3.gz", "shift app.log.1", "rename app.log", "compress app.log.2"}, ops)
}
