package rotate

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain turns the test binary into a helper process when asked: a log
// writer (TEND_ROTATE_HELPER=writer) or a rotator to be killed
// (TEND_ROTATE_HELPER=rotator), so the stress and crash tests use real,
// separate processes.
func TestMain(m *testing.M) {
	switch os.Getenv("TEND_ROTATE_HELPER") {
	case "writer":
		rate, err := strconv.Atoi(os.Getenv("HELPER_RATE"))
		if err != nil || rate <= 0 {
			rate = 50
		}
		helperWriter(os.Getenv("HELPER_PATH"), os.Getenv("HELPER_APPEND") == "1", rate)
		os.Exit(0)
	case "rotator":
		helperRotator(os.Getenv("HELPER_PATH"), os.Getenv("HELPER_STATE"))
		os.Exit(0)
	case "crasher":
		helperCrasher()
		os.Exit(0)
	case "rival":
		helperRival(os.Getenv("HELPER_PATH"), os.Getenv("HELPER_STATE"), Method(os.Getenv("HELPER_METHOD")), os.Getenv("HELPER_PIDFILE"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperWriter writes numbered lines to path at about rate MB/s (50 by
// default: logrotate lost 4-9% of lines at that rate), in writes of 4 KB,
// reopening the file on SIGHUP, until SIGTERM; then it prints the last
// number written.
func helperWriter(path string, appendMode bool, rate int) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	open := func() *os.File {
		flags := os.O_WRONLY | os.O_CREATE
		if appendMode {
			flags |= os.O_APPEND
		}
		f, err := os.OpenFile(path, flags, 0o644)
		if err != nil {
			panic(err)
		}
		if !appendMode {
			if _, err := f.Seek(0, 2); err != nil {
				panic(err)
			}
		}
		return f
	}
	f := open()
	buf := make([]byte, 0, 8192)
	n := 0
	fmt.Println("ready")
	perTick := rate << 10 // bytes per millisecond
	written, tick := 0, time.Now()
	for {
		if written >= perTick {
			tick = tick.Add(time.Millisecond)
			time.Sleep(time.Until(tick))
			written = 0
		}
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM {
				f.Close()
				fmt.Println(n)
				return
			}
			f.Close()
			f = open()
		default:
		}
		buf = buf[:0]
		for len(buf) < 4000 {
			n++
			buf = append(buf, "line "...)
			buf = strconv.AppendInt(buf, int64(n), 10)
			// Lines of varying length, as real logs have: with one fixed
			// length the line ends may never meet a block boundary.
			buf = append(buf, pad[:n%23]...)
			buf = append(buf, '\n')
		}
		if _, err := f.Write(buf); err != nil {
			panic(err)
		}
		written += len(buf)
	}
}

var pad = []byte(" ......................")

// startWriter runs helperWriter in a child process and waits until it
// writes. stop ends it and returns the last line number it wrote.
func startWriter(t *testing.T, path string, appendMode bool, env ...string) (pid int, stop func() int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TEND_ROTATE_HELPER=writer", "HELPER_PATH="+path, "HELPER_APPEND="+map[bool]string{true: "1", false: "0"}[appendMode])
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	require.True(t, sc.Scan(), "writer helper started")
	require.Equal(t, "ready", sc.Text())
	done := false
	t.Cleanup(func() {
		if !done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd.Process.Pid, func() int {
		done = true
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.True(t, sc.Scan(), "writer helper reports its last line")
		last, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		require.NoError(t, err)
		require.NoError(t, cmd.Wait())
		return last
	}
}

// helperRotator rotates path (rename, gzip) in a loop until killed.
func helperRotator(path, state string) {
	r := &Rotator{State: state, Rules: []Rule{{Path: path, Size: 1, Keep: 1000, Compress: CompressionGzip, Method: MethodRename}}}
	fmt.Println("ready")
	for {
		r.Rotate(context.Background())
		time.Sleep(time.Millisecond)
	}
}

// helperRival rotates path with its own state file, as a second tend-cron
// would, until SIGTERM; then it prints "rotations N errors M" and the
// first error.
func helperRival(path, state string, m Method, pidfile string) {
	rule := Rule{Path: path, Size: 128 << 10, Keep: 100000, Compress: CompressionGzip, Method: m}
	if m == MethodRename {
		rule.Signal = &Signal{Pidfile: pidfile}
		rule.Create = &Create{UID: -1, GID: -1}
	}
	r := &Rotator{State: state, Rules: []Rule{rule}}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fmt.Println("ready")
	rotations, errs, first := 0, 0, ""
	for {
		select {
		case <-stop:
			fmt.Printf("rotations %d errors %d\n%s\n", rotations, errs, first)
			return
		default:
		}
		rep, err := r.Rotate(context.Background())
		rotations += rep.Rotations()
		if err != nil {
			if errs == 0 {
				first = strings.ReplaceAll(err.Error(), "\n", " ")
			}
			errs++
		}
		time.Sleep(time.Millisecond)
	}
}

// crashRule is the rule the crash tests rotate with: every run rotates.
func crashRule(path, pidfile string, m Method, c Compression) Rule {
	rule := Rule{Path: path, Size: 1, Keep: 100000, Method: m, Compress: c}
	if m == MethodRename {
		rule.Signal = &Signal{Pidfile: pidfile}
		rule.Create = &Create{UID: -1, GID: -1}
	}
	return rule
}

// helperCrasher runs one rotation and kills itself with SIGKILL at the
// crash point HELPER_CRASH_AT names ("PREFIX#K": the K-th point whose name
// starts with PREFIX), printing its name first, or prints "done" when the
// run ends without reaching it. With HELPER_LOOP=1 it rotates in a
// loop instead, until killed from outside.
func helperCrasher() {
	path, state, pidfile := os.Getenv("HELPER_PATH"), os.Getenv("HELPER_STATE"), os.Getenv("HELPER_PIDFILE")
	rule := crashRule(path, pidfile, Method(os.Getenv("HELPER_METHOD")), Compression(os.Getenv("HELPER_COMPRESS")))
	r := &Rotator{State: state, Rules: []Rule{rule}, compressWait: 50 * time.Millisecond}
	if os.Getenv("HELPER_LOOP") == "1" {
		fmt.Println("ready")
		for {
			r.Rotate(context.Background())
			time.Sleep(time.Millisecond)
		}
	}
	prefix, k, _ := strings.Cut(os.Getenv("HELPER_CRASH_AT"), "#")
	at, _ := strconv.Atoi(k)
	n := 0
	var mu sync.Mutex // compressions run in parallel
	crashPoint = func(point string) {
		if !strings.HasPrefix(point, prefix) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if n++; n == at {
			fmt.Println("killed " + point)
			os.Stdout.Sync()
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	r.Rotate(context.Background())
	fmt.Println("done")
}
