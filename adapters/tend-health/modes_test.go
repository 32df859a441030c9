package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestConfigReadIsBounded: /dev/zero, a FIFO nobody writes, a FIFO whose
// writer never writes and a directory all end with a clear "bad config"
// within --timeout, and memory stays small.
func TestConfigReadIsBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	held := filepath.Join(dir, "held")
	require.NoError(t, syscall.Mkfifo(held, 0o644))
	// A writer that opens and never writes: the read blocks, not the open.
	go func() {
		f, err := os.OpenFile(held, os.O_WRONLY, 0)
		if err == nil {
			time.Sleep(10 * time.Second)
			f.Close()
		}
	}()
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, append([]byte("health:\n  checks:\n    disk: [{path: /}]\n#"), bytes.Repeat([]byte("x"), maxConfigBytes)...), 0o644))
	tests := []struct {
		name, path, msg string
		timeout         time.Duration
	}{
		// Generous deadlines where the read must finish (a loaded machine
		// under -race), short ones where it must be cut off.
		{"/dev/zero", "/dev/zero", "larger than 1048576 bytes (1 MiB)", 8 * time.Second},
		{"a file over the cap", big, "larger than 1048576 bytes", 8 * time.Second},
		{"a FIFO with no writer", fifo, "nothing within the deadline (a FIFO with no writer, or a hung mount?)", 700 * time.Millisecond},
		{"a FIFO whose writer never writes", held, "nothing within the deadline", 700 * time.Millisecond},
		{"a directory", dir, "is a directory", 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtimeMem
			before.read()
			start := time.Now()
			code, out, errOut := runCLI(t, "--config", tt.path, "--timeout", tt.timeout.String())
			assert.Less(t, time.Since(start), tt.timeout+2*time.Second, "the read is under --timeout")
			after.read()
			assert.Equal(t, 1, code, out)
			assert.Contains(t, errOut, "tend-health: bad config: ")
			assert.Contains(t, errOut, tt.msg)
			assert.Less(t, after.heap-before.heap, int64(16<<20), "memory is bounded by the cap, not the input")
		})
	}
}

// TestRedactionWithAHangingServer: a server that accepts and never answers
// makes the HTTP check fail through a wrapped *url.Error; neither the query
// token, the URL's user info nor the Authorization token may appear in the
// text or JSON output.
func TestRedactionWithAHangingServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	testenv.Hang(t, l)
	t.Setenv("TEND_TEST_JUPYTER_TOKEN", "hdr-s3cret-2")
	cfg := writeConfig(t, fmt.Sprintf(`
health:
  checks:
    http:
      - {url: "http://alice:pw-s3cret-1@%[1]s/api/status?token=q-s3cret-0&x=1", token_env: TEND_TEST_JUPYTER_TOKEN, timeout: 600ms}
      - {name: named, url: "http://%[1]s/lab?token=q-s3cret-3", timeout: 2s}
`, l.Addr()))
	for _, args := range [][]string{{"--timeout", "1s"}, {"--timeout", "3s", "--json"}} {
		code, out, errOut := runCLI(t, append([]string{"--config", cfg}, args...)...)
		assert.Equal(t, 1, code, out)
		for _, secret := range []string{"s3cret", "alice", "pw-"} {
			assert.NotContains(t, out+errOut, secret)
		}
		assert.Contains(t, out, "/api/status: ", "the URL is shown without its secrets")
		assert.Regexp(t, "timed out|deadline exceeded|Client.Timeout", out)
	}
}

type runtimeMem struct{ heap int64 }

func (m *runtimeMem) read() {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			fmt.Sscanf(strings.TrimPrefix(l, "VmRSS:"), "%d", &m.heap)
			m.heap <<= 10
		}
	}
}

func TestLimitsCheck(t *testing.T) {
	tests := []struct {
		name, root, extra string
		code              int
		want              []string
	}{
		{"limited", "testdata/limits/limited", "", 0, []string{"pass limits: memory 48.0GiB, /dev/shm 8.0GiB, cpus 8"}},
		{"no memory limit and a 64 MiB /dev/shm warn", "testdata/limits/unlimited", "", 0, []string{"warn limits: no memory limit", "/dev/shm is 64.0MiB, under 1.0GiB"}},
		{"and fail with severity fail", "testdata/limits/unlimited", ", severity: fail", 1, []string{"fail limits: no memory limit"}},
		{"thresholds are configurable", "testdata/limits/unlimited", ", require_memory_limit: false, min_shm: 64MiB", 0, []string{"pass limits: /dev/shm 64.0MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, fmt.Sprintf("health:\n  checks:\n    limits: {root: %s%s}\n", tt.root, tt.extra))
			code, out, errOut := runCLI(t, "--config", cfg, "--profile", "liveness")
			assert.Equal(t, tt.code, code, out+errOut)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

func TestGPUWithoutNVMLFailsUnlessOptional(t *testing.T) {
	if nvmlBuilt {
		if _, err := os.Stat("/dev/nvidiactl"); err == nil {
			t.Skip("this machine has an NVIDIA driver: the GPU check would run for real")
		}
	}
	cfg := writeConfig(t, "health:\n  checks:\n    gpu: {min_count: 1}\n")
	code, out, _ := runCLI(t, "--config", cfg, "--profile", "liveness")
	assert.Equal(t, 1, code, "a configured GPU requirement that cannot be checked must not pass: %s", out)
	assert.Contains(t, out, "fail gpu: cannot run: ")
	if nvmlBuilt {
		assert.Contains(t, out, "NVML library not found")
	} else {
		assert.Contains(t, out, "use the cgo build of tend-health")
	}
	cfg = writeConfig(t, "health:\n  checks:\n    gpu: {min_count: 1, optional: true}\n")
	code, out, _ = runCLI(t, "--config", cfg, "--profile", "liveness", "--json")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, `"skip_reason": "optional"`)
}

// freePort returns an address nothing listens on (now).
func freePort(t *testing.T) string { return closedAddr(t) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeAndFrom runs the resident mode end to end on loopback: the
// probes answer from the last results, follow a service going down and up
// again, /metrics serves the checks, and --from answers a profile.
func TestServeAndFrom(t *testing.T) {
	addr := freePort(t)
	svc := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`
health:
  timeout: 2s
  startup: {interval: 100ms}
  serve: {liveness_interval: 100ms, readiness_interval: 100ms}
  checks:
    tcp: [{name: svc, addr: "%s"}]
    disk: [{path: /}]
`, svc))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--config", cfg, "--serve", addr}, io.Discard, &stderr) }()
	defer func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code, stderr.String())
		case <-time.After(10 * time.Second):
			t.Error("--serve did not stop on cancel")
		}
	}()
	base := "http://" + addr
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { c, _ := get("/livez"); return c == 200 }, 10*time.Second, 20*time.Millisecond, stderr.String())
	// Each profile runs on its own loop: wait for readiness's first pass.
	require.Eventually(t, func() bool { _, b := get("/readyz"); return !strings.Contains(b, "no readiness report yet") }, 10*time.Second, 20*time.Millisecond)
	code, body := get("/readyz")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "fail tcp svc: connect "+svc+": connection refused")
	code, body = get("/startupz")
	assert.Equal(t, 503, code, body)

	c, out, _ := runCLI(t, "--from", base, "--profile", "readiness")
	assert.Equal(t, 1, c)
	assert.Contains(t, out, "unhealthy: 1 of 2 checks failed (readiness")
	c, out, _ = runCLI(t, "--from", base, "--profile", "liveness")
	assert.Equal(t, 0, c, out)
	assert.Contains(t, out, "healthy (liveness")

	l, err := net.Listen("tcp", svc)
	require.NoError(t, err)
	require.Eventually(t, func() bool { c, _ := get("/readyz"); return c == 200 }, 10*time.Second, 20*time.Millisecond)
	// The startup loop runs on its own interval: wait for its first pass.
	require.Eventually(t, func() bool { c, _ := get("/startupz"); return c == 200 }, 10*time.Second, 20*time.Millisecond)
	c, out, _ = runCLI(t, "--from", base+"/", "--profile", "startup", "--json")
	assert.Equal(t, 0, c, out)
	var v struct {
		Healthy bool
		Report  struct{ Profile string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.True(t, v.Healthy)
	assert.Equal(t, "startup", v.Report.Profile)

	l.Close()
	require.Eventually(t, func() bool { c, _ := get("/readyz"); return c == 503 }, 10*time.Second, 20*time.Millisecond)
	code, body = get("/startupz")
	assert.Equal(t, 200, code, "startup, once passed, stays passed: %s", body)

	code, body = get("/metrics")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, `tend_health_check_status{check="tcp svc",profile="readiness",status="fail"} 1`)
	assert.Contains(t, body, `tend_health_healthy{profile="liveness"} 1`)
	assert.Contains(t, body, `tend_health_check_duration_seconds{check="disk /",profile="liveness"}`)
	assert.Contains(t, body, "process_resident_memory_bytes")
	code, _ = get("/nothing")
	assert.Equal(t, 404, code)
	if _, set := os.LookupEnv("GOGC"); !set {
		assert.Equal(t, serveGCPercent, debug.SetGCPercent(100), "--serve keeps the heap small unless GOGC says otherwise")
	}
}

func TestFromWithoutAResidentOne(t *testing.T) {
	start := time.Now()
	c, out, _ := runCLI(t, "--from", "http://user:pw-s3cret@"+closedAddr(t)+"/?token=s3cret", "--profile", "liveness", "--timeout", "1s")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, 1, c)
	assert.Contains(t, out, "fail resident: ask http://")
	assert.Contains(t, out, "connection refused (is tend-health --serve running there?)")
	assert.NotContains(t, out, "s3cret")

	// One that accepts and never answers: --timeout ends it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	start = time.Now()
	c, out, _ = runCLI(t, "--from", "http://"+l.Addr().String(), "--timeout", "300ms")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, 1, c)
	assert.Contains(t, out, "no answer within 300ms")
}

// TestFromOddAnswers: --from's plain HTTP path passes only a whole 200
// answer: another status, an answer that breaks off, or garbage is
// unhealthy, and the request it sends is the one the Monitor reads.
func TestFromOddAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, answer, want string
		code               int
	}{
		{"200", "HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\nhealthy\n", "healthy\n", 0},
		{"200 to EOF", "HTTP/1.0 200 OK\r\n\r\nhealthy (no length)\n", "healthy (no length)\n", 0},
		{"500", "HTTP/1.0 500 Internal Server Error\r\n\r\noops\n", "answered 500 Internal Server Error", 1},
		{"503", "HTTP/1.0 503 Service Unavailable\r\n\r\nunhealthy: stale\n", "unhealthy: stale", 1},
		{"broken off", "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nheal", "the answer broke off", 1},
		{"garbage", "SSH-2.0-OpenSSH_9.2\r\n", "read the answer", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer l.Close()
			got := make(chan string, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				b := make([]byte, 4096)
				n, _ := c.Read(b)
				got <- string(b[:n])
				io.WriteString(c, tc.answer)
			}()
			code, out, _ := runCLI(t, "--from", "http://"+l.Addr().String()+"/base/", "--profile", "liveness", "--json", "--timeout", "2s")
			assert.Equal(t, tc.code, code, out)
			assert.Contains(t, out, tc.want)
			req := <-got
			assert.True(t, strings.HasPrefix(req, "GET /base/livez HTTP/1.1\r\n"), req)
			assert.Contains(t, req, "Connection: close\r\n", "one request, then the connection ends")
			assert.Contains(t, req, "Host: "+l.Addr().String()+"\r\n")
			assert.Contains(t, req, "Accept: application/json\r\n")
		})
	}
}
