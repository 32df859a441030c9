package testenv

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Hang accepts connections on l and never answers them: an engine or a
// server that hangs. When the test ends l and every accepted connection
// are closed.
func Hang(t testing.TB, l net.Listener) {
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
}

// HungSocket returns the path of a unix socket (in the test's temporary
// folder) that accepts connections and never answers, as Hang.
func HungSocket(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen on %s: %v", path, err)
	}
	Hang(t, l)
	return path
}

// WriteTemp writes text to a file named name in a new temporary folder of
// the test (a config, a spec) and returns its path.
func WriteTemp(t testing.TB, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
