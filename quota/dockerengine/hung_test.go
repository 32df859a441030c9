package dockerengine_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/quota/dockerengine"
)

// hungEngine serves a Docker API on a unix socket that answers /_ping and
// whatever answers holds, and never answers a request whose path contains
// hang (nor anything, with hang "*").
func hungEngine(t *testing.T, hang string, answers map[string]string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if hang == "*" || strings.Contains(r.URL.Path, hang) {
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		for path, body := range answers {
			if strings.HasSuffix(r.URL.Path, path) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, body)
				return
			}
		}
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			fmt.Fprint(w, "OK")
			return
		}
		http.NotFound(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { close(done); _ = srv.Close() })
	return "unix://" + sock
}

// TestHungEngineEveryCallHasADeadline: an engine that accepts and never
// answers, at each of the calls Running makes, fails the audit after the
// per-call deadline with an error naming the call, even when the caller's
// context has no deadline.
func TestHungEngineEveryCallHasADeadline(t *testing.T) {
	info := `{"DefaultRuntime": "runc"}`
	list := `[{"Id": "abc", "Names": ["/ann"]}]`
	inspect := `{"Id": "abc", "Name": "/ann", "Image": "sha256:1", "Config": {"Image": "cuda", "Env": ["NVIDIA_VISIBLE_DEVICES=0"]}, "HostConfig": {}}`
	for _, tc := range []struct {
		name, hang string
		answers    map[string]string
		want       string
	}{
		{"all", "*", nil, ": "},
		{"info", "/info", nil, "info: "},
		{"list", "/containers/json", map[string]string{"/info": info}, "list containers: "},
		{"inspect", "/containers/abc/json", map[string]string{"/info": info, "/containers/json": list}, "inspect container abc: "},
		{"image", "/images/", map[string]string{"/info": info, "/containers/json": list, "/containers/abc/json": inspect}, "inspect image sha256:1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := dockerengine.New(dockerengine.Options{Host: hungEngine(t, tc.hang, tc.answers), CallTimeout: 300 * time.Millisecond})
			require.NoError(t, err)
			defer e.Close()
			start := time.Now()
			_, err = e.Running(context.Background())
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, time.Since(start), 5*time.Second, "the per-call deadline, not the caller's")
		})
	}
}
