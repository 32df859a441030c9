package testenv

import (
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
)

// jupyter is one real notebook server shared by a test binary's tests.
var jupyter struct {
	once  sync.Once
	cmd   *exec.Cmd
	base  string
	token string
	err   error
}

// Jupyter starts /usr/bin/jupyter-notebook on a loopback port with a token,
// once per test binary, and returns its base URL and the token; it calls
// Missing when the notebook server is not installed, and Short. Call
// StopJupyter from TestMain.
func Jupyter(t testing.TB) (base, token string) {
	t.Helper()
	Short(t)
	bin := "/usr/bin/jupyter-notebook"
	if _, err := os.Stat(bin); err != nil {
		Missing(t, "%s not found (apt-get install jupyter-notebook)", bin)
	}
	jupyter.once.Do(func() { jupyter.err = startJupyter(bin) })
	if jupyter.err != nil {
		t.Fatal(jupyter.err)
	}
	return jupyter.base, jupyter.token
}

func startJupyter(bin string) error {
	dir, err := os.MkdirTemp("", "tend-jupyter-")
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	jupyter.token = fmt.Sprintf("tend-%d", time.Now().UnixNano())
	cmd := exec.Command(bin, "--no-browser", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--NotebookApp.token="+jupyter.token, "--allow-root", "--notebook-dir="+dir)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "JUPYTER_CONFIG_DIR="+dir+"/config",
		"JUPYTER_DATA_DIR="+dir+"/data", "JUPYTER_RUNTIME_DIR="+dir+"/runtime", "IPYTHONDIR="+dir+"/ipython")
	logf, err := os.Create(filepath.Join(dir, "jupyter.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	jupyter.cmd = cmd
	jupyter.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get(jupyter.base + "/api")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "jupyter.log"))
	return fmt.Errorf("jupyter did not answer within 60s: %s", log)
}

// StopJupyter kills the notebook server Jupyter started, if any, and
// removes its directory.
func StopJupyter() {
	if jupyter.cmd != nil && jupyter.cmd.Process != nil {
		syscall.Kill(-jupyter.cmd.Process.Pid, syscall.SIGKILL)
		jupyter.cmd.Wait()
		os.RemoveAll(jupyter.cmd.Dir)
	}
}
