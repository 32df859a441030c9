package testenv

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestHungSocketAcceptsAndNeverAnswers(t *testing.T) {
	path := HungSocket(t)
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "no answer, no close: %v", err)
}
