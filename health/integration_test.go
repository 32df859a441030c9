package health

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopJupyter()
	os.Exit(code)
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGroup starts cmd in its own process group and kills the group in
// t.Cleanup.
func startGroup(t *testing.T, cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
}

func waitTCP(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSSHRealSshd reads the banner of a real OpenSSH server on a loopback
// port.
func TestSSHRealSshd(t *testing.T) {
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		testenv.Missing(t, "%s not found (apt-get install openssh-server)", sshd)
	}
	keygen := testenv.LookPath(t, "ssh-keygen", "openssh-client")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		testenv.Missing(t, "sshd needs /run/sshd: %v", err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "host_ed25519")
	out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out)
	conf := filepath.Join(dir, "sshd_config")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"HostKey %s\nPidFile %s\nListenAddress 127.0.0.1\nUsePAM no\nPasswordAuthentication no\nBanner none\n", key, filepath.Join(dir, "sshd.pid"))), 0o600))
	port := freePort(t)
	startGroup(t, exec.Command(sshd, "-D", "-e", "-f", conf, "-p", fmt.Sprint(port)))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	require.NoError(t, waitTCP(addr, 10*time.Second), "sshd did not listen")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := (&SSH{Addr: addr}).Check(ctx)
	assert.Equal(t, StatusPass, r.Status, r.Message)
	assert.Regexp(t, `^SSH-2\.0-OpenSSH_`, r.Message)
	// The same port seen by plain TCP passes; HTTP against it does not.
	assert.Equal(t, StatusPass, (&TCP{Addr: addr}).Check(ctx).Status)
	assert.Equal(t, StatusFail, (&HTTP{URL: "http://" + addr + "/"}).Check(ctx).Status)
}

func TestHTTPRealJupyter(t *testing.T) {
	base, token := testenv.Jupyter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name   string
		c      HTTP
		status Status
		msg    string
	}{
		{"status with the token", HTTP{URL: base + "/api/status", Token: token}, StatusPass, "status 200"},
		{"status without the token", HTTP{URL: base + "/api/status"}, StatusFail, "(is the token right?)"},
		{"status with a wrong token", HTTP{URL: base + "/api/status", Token: "wrong"}, StatusFail, "status 403"},
		{"the version needs no token", HTTP{URL: base + "/api"}, StatusPass, "status 200"},
		{"a login redirect counts when expected", HTTP{URL: base + "/tree", Expect: []int{302}}, StatusPass, "status 302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.Check(ctx)
			assert.Equal(t, tt.status, r.Status, r.Message)
			assert.Contains(t, r.Message, tt.msg)
		})
	}
}
