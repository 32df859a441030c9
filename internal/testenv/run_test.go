package testenv

import (
	"strings"
	"sync"
	"testing"
)

func TestRunDockerTrimsOutput(t *testing.T) {
	out, err := RunDocker(t, "/bin/echo", " version ")
	if err != nil || out != "version" {
		t.Fatalf("RunDocker(echo) = %q, %v; want \"version\", nil", out, err)
	}
	r := &recorder{}
	MustDocker(r, "/bin/false", "ps")
	if !strings.Contains(r.fatal, "docker ps: exit status 1") {
		t.Fatalf("MustDocker failure says %q; want the command and its status", r.fatal)
	}
}

func TestBufferConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 400 {
		t.Fatalf("wrote 400 bytes, read %d", n)
	}
}
