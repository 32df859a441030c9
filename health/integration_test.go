package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopJupyter()
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

// jupyter is one real notebook server shared by the package's tests.
var jupyter struct {
	once  sync.Once
	cmd   *exec.Cmd
	base  string
	token string
	err   error
}

func stopJupyter() {
	if jupyter.cmd != nil && jupyter.cmd.Process != nil {
		syscall.Kill(-jupyter.cmd.Process.Pid, syscall.SIGKILL)
		jupyter.cmd.Wait()
		os.RemoveAll(jupyter.cmd.Dir)
	}
}

// realJupyter starts /usr/bin/jupyter-notebook on a loopback port once and
// returns its base URL and token.
func realJupyter(t *testing.T) (base, token string) {
	t.Helper()
	testenv.Short(t)
	bin := "/usr/bin/jupyter-notebook"
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "%s not found (apt-get install jupyter-notebook)", bin)
	}
	jupyter.once.Do(func() {
		dir, err := os.MkdirTemp("", "tend-health-jupyter-")
		if err != nil {
			jupyter.err = err
			return
		}
		port := freePort(t)
		jupyter.token = fmt.Sprintf("tend-%d", time.Now().UnixNano())
		cmd := exec.Command(bin, "--no-browser", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", port),
			"--NotebookApp.token="+jupyter.token, "--allow-root", "--notebook-dir="+dir)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "JUPYTER_CONFIG_DIR="+dir+"/config",
			"JUPYTER_DATA_DIR="+dir+"/data", "JUPYTER_RUNTIME_DIR="+dir+"/runtime", "IPYTHONDIR="+dir+"/ipython")
		logf, _ := os.Create(filepath.Join(dir, "jupyter.log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if jupyter.err = cmd.Start(); jupyter.err != nil {
			return
		}
		jupyter.cmd = cmd
		jupyter.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := http.Get(jupyter.base + "/api")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		log, _ := os.ReadFile(filepath.Join(dir, "jupyter.log"))
		jupyter.err = fmt.Errorf("jupyter did not answer within 60s: %s", log)
	})
	require.NoError(t, jupyter.err)
	return jupyter.base, jupyter.token
}

func TestHTTPRealJupyter(t *testing.T) {
	base, token := realJupyter(t)
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
