package cleanup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/internal/testenv"
)

// TestMain lets a test re-run this binary as an unprivileged child that
// sweeps TEND_CLEANUP_CHILD_ROOT and prints its report as JSON; the rule's
// age is TEND_CLEANUP_CHILD_OLDER (default 1h), its layout
// TEND_CLEANUP_CHILD_LAYOUT, and TEND_CLEANUP_CHILD_DRY=1 makes it a dry run.
func TestMain(m *testing.M) {
	if spec := os.Getenv(limitedEnv); spec != "" {
		os.Exit(limitedChild(spec))
	}
	if root := os.Getenv("TEND_CLEANUP_CHILD_ROOT"); root != "" {
		r := cleanup.Rule{Root: root, OlderThan: time.Hour, Layout: cleanup.Layout(os.Getenv("TEND_CLEANUP_CHILD_LAYOUT"))}
		if d, err := time.ParseDuration(os.Getenv("TEND_CLEANUP_CHILD_OLDER")); err == nil {
			r.OlderThan = d
		}
		s := &cleanup.Sweeper{Rules: []cleanup.Rule{r}}
		rep, _ := s.Sweep(context.Background(), os.Getenv("TEND_CLEANUP_CHILD_DRY") == "1")
		json.NewEncoder(os.Stdout).Encode(rep)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childReport is what the child prints.
type childReport struct {
	Items  []cleanup.Item
	Errors []string
}

// sweepAsNobody sweeps root in a child process as nobody (uid 65534) when
// the tests run as root, else as the tests' own user, with env added. base
// must hold root; it and its parents are made searchable by nobody.
func sweepAsNobody(t *testing.T, base, root string, env ...string) childReport {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if os.Geteuid() == 0 {
		// Root may do anything: sweep as nobody, from a copy of this
		// binary that nobody can read.
		for p := base; p != "/"; p = filepath.Dir(p) {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
				require.NoError(t, os.Chmod(p, st.Mode().Perm()|0o011))
			}
		}
		self, err := os.ReadFile(os.Args[0])
		require.NoError(t, err)
		bin := filepath.Join(base, "cleanup.test")
		require.NoError(t, os.WriteFile(bin, self, 0o755))
		cmd = exec.Command(bin, "-test.run=^$")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Env = append(append(os.Environ(), "TEND_CLEANUP_CHILD_ROOT="+root), env...)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var rep childReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	return rep
}

// chownTree gives everything under root to uid:gid.
func chownTree(t *testing.T, root string, uid int) {
	require.NoError(t, filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, uid)
		}
		return err
	}))
}

// TestSymlinkSwap keeps swapping a subdirectory of the root with a symlink
// to a directory outside it while sweeping: nothing outside may go.
func TestSymlinkSwap(t *testing.T) {
	testenv.Short(t)
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	mk := osMaker(t)
	var victims []string
	for i := range 50 {
		p := filepath.Join(outside, fmt.Sprintf("precious%d", i))
		mk.file(p, 1, ago(30))
		victims = append(victims, p)
	}
	sub, aside := filepath.Join(root, "sub"), filepath.Join(root, "aside")
	refill := func() {
		for i := range 50 {
			p := filepath.Join(sub, fmt.Sprintf("f%d", i))
			if _, err := os.Lstat(sub); err == nil {
				os.WriteFile(p, nil, 0o644)
				os.Chtimes(p, ago(30), ago(30))
			}
		}
	}
	require.NoError(t, os.MkdirAll(sub, 0o755))
	refill()

	var swaps atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if os.Rename(sub, aside) == nil {
				os.Symlink(outside, sub)
				os.Remove(sub)
				os.Rename(aside, sub)
				swaps.Add(1)
			}
		}
	}()
	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, Workers: 2}
	deadline := time.Now().Add(10 * time.Second)
	sweeps, deleted := 0, 0
	for time.Now().Before(deadline) && swaps.Load() < 5000 {
		rep, _ := s.Sweep(context.Background(), false)
		deleted += rep.Deleted
		sweeps++
		refill()
	}
	close(stop)
	<-done
	t.Logf("%d sweeps deleted %d entries during %d swaps", sweeps, deleted, swaps.Load())
	require.GreaterOrEqual(t, swaps.Load(), int64(1000), "thousands of swaps")
	require.Positive(t, deleted, "the sweeps did delete inside the root")
	for _, v := range victims {
		_, err := os.Lstat(v)
		assert.NoError(t, err, "deleted outside the root: %s", v)
	}
}

func TestRealBadInput(t *testing.T) {
	base := t.TempDir()
	mk := osMaker(t)
	mk.file(filepath.Join(base, "file"), 1, ago(30))
	mk.dir(filepath.Join(base, "dir"), ago(30))
	require.NoError(t, os.Symlink(filepath.Join(base, "dir"), filepath.Join(base, "link")))
	for name, want := range map[string]string{"missing": "no such file", "file": "not a directory", "link": "is a symlink"} {
		s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: filepath.Join(base, name), OlderThan: time.Hour}}}
		_, err := s.Sweep(context.Background(), false)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), want, name)
		assert.Contains(t, err.Error(), filepath.Join(base, name), "the error names the root")
	}
	_, err := os.Stat(filepath.Join(base, "file"))
	assert.NoError(t, err)
}

// TestDeepTree sweeps a tree 5000 levels deep, deeper than PATH_MAX allows
// to name: no recursion, one descriptor per level.
func TestDeepTree(t *testing.T) {
	root := t.TempDir()
	depth := 5000 // "dd/" * 5000 is 15,000 bytes, far past PATH_MAX
	if testing.Short() {
		depth = 1500
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	old := unix.NsecToTimespec(ago(30).UnixNano())
	var fds []int
	for range depth {
		require.NoError(t, unix.Mkdirat(fd, "dd", 0o755))
		nfd, err := unix.Openat(fd, "dd", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		fds = append(fds, fd)
		fd = nfd
	}
	ffd, err := unix.Openat(fd, "bottom", unix.O_CREAT|unix.O_WRONLY, 0o644)
	require.NoError(t, err)
	unix.Close(ffd)
	require.NoError(t, unix.UtimesNanoAt(fd, "bottom", []unix.Timespec{old, old}, 0))
	for i := len(fds) - 1; i >= 0; i-- {
		require.NoError(t, unix.UtimesNanoAt(fds[i], "dd", []unix.Timespec{old, old}, 0))
		unix.Close(fds[i])
	}
	unix.Close(fd)

	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, MaxDepth: 100}
	rep, err := s.Sweep(context.Background(), false)
	require.Error(t, err, "a MaxDepth of 100 stops the walk with an error")
	assert.Contains(t, err.Error(), "deeper than 100")
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonTooDeep])

	s.MaxDepth = 0
	rep, err = s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, depth+1, rep.Deleted, "the bottom file and every directory")
	items := rep.Items()
	assert.Equal(t, "bottom", filepath.Base(items[0].Path))
	assert.Greater(t, len(items[0].Path), 4096)
	ents, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Empty(t, ents)
}

// TestUnreadableSubdirUnprivileged sweeps, as an unprivileged user, a tree
// with a directory it may not read: it is reported with its path and the
// reason, and everything else is swept.
func TestUnreadableSubdirUnprivileged(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	mk := osMaker(t)
	mk.file(filepath.Join(root, "a", "old"), 1, ago(30))
	mk.file(filepath.Join(root, "secret", "old"), 1, ago(30))
	mk.file(filepath.Join(root, "z", "old"), 1, ago(30))
	if os.Geteuid() == 0 {
		chownTree(t, root, 65534)
		require.NoError(t, os.Chown(filepath.Join(root, "secret"), 0, 0))
	}
	require.NoError(t, os.Chmod(filepath.Join(root, "secret"), 0o000))
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "secret"), 0o755) })
	rep := sweepAsNobody(t, base, root)
	require.Len(t, rep.Errors, 1, "%v", rep)
	assert.Contains(t, rep.Errors[0], filepath.Join(root, "secret"))
	assert.Contains(t, rep.Errors[0], "permission denied")
	var got []string
	for _, it := range rep.Items {
		got = append(got, strings.TrimPrefix(it.Path, root+"/"))
	}
	assert.Equal(t, []string{"a/old", "z/old"}, got)
}
