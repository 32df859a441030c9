package dockerengine_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/internal/testenv"
)

// Every call against an engine that accepts and never answers ends at the
// call timeout with an error naming the socket and the request.
func TestHungEngineEveryCallHasADeadline(t *testing.T) {
	sock := "unix://" + testenv.HungSocket(t)
	e, err := dockerengine.New(dockerengine.Options{Host: sock, CallTimeout: 200 * time.Millisecond, DiskPath: t.TempDir()})
	require.NoError(t, err)
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	img := images.Image{ID: "sha256:" + strings.Repeat("a", 64), RepoTags: []string{"x:1", "x:2"}, SharedSize: 1}
	calls := map[string]func() error{
		"GET /images/json":      func() error { _, err := e.Images(ctx); return err },
		"GET /containers/json":  func() error { _, err := e.Containers(ctx, ""); return err },
		"/json (inspect image)": func() error { _, err := e.ImageDetail(ctx, img); return err },
		"DELETE /images/x:1":    func() error { _, err := e.Remove(ctx, img); return err },
		"POST /build/prune":     func() error { _, err := e.PruneBuildCache(ctx, 0); return err },
		// Events first asks the engine's kind (Podman replays differently).
		"GET /version (engine kind)": func() error { return e.Events(ctx, time.Now().Add(-time.Minute), time.Time{}, func(images.Event) {}) },
	}
	for what, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		require.Error(t, err, what)
		assert.Contains(t, err.Error(), sock, what)
		assert.Contains(t, err.Error(), what)
		assert.Contains(t, err.Error(), "did not answer within 200ms", what)
		assert.ErrorIs(t, err, context.DeadlineExceeded, what)
		assert.Less(t, took, 10*time.Second, what)
	}

	// The event stream itself, once the kind is known.
	e2, err := dockerengine.New(dockerengine.Options{Host: sock, CallTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer e2.Close()
	dockerengine.SetKindForTest(e2, "docker")
	err = e2.Events(ctx, time.Now().Add(-time.Minute), time.Time{}, func(images.Event) {})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /events (engine events) did not answer within 200ms")
	assert.Contains(t, err.Error(), sock)

	// The whole plan fails on the first call, naming it.
	_, err = (&images.ImagePruner{Engine: e, Policy: images.Policy{Match: []string{"*"}}}).Plan(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list images")
	assert.Contains(t, err.Error(), sock)
}

// Cancelling the caller's context (SIGTERM in tend-cron) ends a call at
// once, well before a long call timeout.
func TestHungEngineCancel(t *testing.T) {
	sock := "unix://" + testenv.HungSocket(t)
	e, err := dockerengine.New(dockerengine.Options{Host: sock, CallTimeout: time.Hour})
	require.NoError(t, err)
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = e.Images(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, err.Error(), sock)
}

func TestNegativeCallTimeout(t *testing.T) {
	_, err := dockerengine.New(dockerengine.Options{CallTimeout: -time.Second})
	assert.ErrorContains(t, err, "-1s")
}

// An unprivileged user on a socket it may not open: the error says so and
// names the socket (not "is the daemon running?").
func TestSocketPermissionDenied(t *testing.T) {
	if os.Getenv("TEND_TEST_AS_NOBODY") == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root to make a socket nobody may open and to run as nobody")
		}
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o755))
		sock := filepath.Join(dir, "root-only.sock")
		l, err := net.Listen("unix", sock)
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, os.Chmod(sock, 0o600))
		exe, err := os.Executable()
		require.NoError(t, err)
		cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe, "-test.run=^TestSocketPermissionDenied$", "-test.v")
		cmd.Env = append(os.Environ(), "TEND_TEST_AS_NOBODY=unix://"+sock)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "--- PASS")
		return
	}
	sock := os.Getenv("TEND_TEST_AS_NOBODY")
	e, err := dockerengine.New(dockerengine.Options{Host: sock, CallTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer e.Close()
	_, err = e.Images(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), sock)
	assert.Contains(t, err.Error(), "permission denied (run as root")
	assert.NotContains(t, err.Error(), "is the daemon running")
}
