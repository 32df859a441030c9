package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendkit/tend/rotate"
)

// writerEnv turns this program into the fast log writer of the
// copytruncate comparison: it appends numbered lines to the file named by
// the variable at about rateMBps until SIGTERM, then prints the last number.
const writerEnv = "TEND_BENCH_ROTATE_WRITER"

func runWriter(path string, rateMBps int) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	check(err)
	fmt.Println("ready")
	pad := strings.Repeat("x", 90)
	buf := make([]byte, 0, 8192)
	n, written, tick := 0, 0, time.Now()
	perMs := rateMBps * 1000
	for {
		select {
		case <-stop:
			f.Close()
			fmt.Println(n)
			return
		default:
		}
		if written >= perMs {
			tick = tick.Add(time.Millisecond)
			time.Sleep(time.Until(tick))
			written = 0
		}
		buf = buf[:0]
		for len(buf) < 4000 {
			n++
			buf = strconv.AppendInt(buf, int64(n), 10)
			buf = append(buf, ' ')
			buf = append(buf, pad...)
			buf = append(buf, '\n')
		}
		_, err := f.Write(buf)
		check(err)
		written += len(buf)
	}
}

// lossRun starts the writer on dir/app.log, calls rotateOnce `rotations`
// times spread over the run, stops the writer and returns how many of its
// lines are in none of the files (and the number written).
func lossRun(dir string, rateMBps, rotations int, every time.Duration, rotateOnce func() error) (lost, total int, err error) {
	path := filepath.Join(dir, "app.log")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), writerEnv+"="+path, "TEND_BENCH_ROTATE_RATE="+strconv.Itoa(rateMBps))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("writer did not start")
	}
	for range rotations {
		time.Sleep(every)
		if err := rotateOnce(); err != nil {
			return 0, 0, err
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("writer did not report")
	}
	total, err = strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		return 0, 0, err
	}
	cmd.Wait()
	seen := make([]bool, total+1)
	files, _ := filepath.Glob(path + "*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return 0, 0, err
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return 0, 0, err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return 0, 0, err
			}
		}
		for _, l := range bytes.Split(b, []byte{'\n'}) {
			l = bytes.TrimLeft(l, "\x00") // holes: logrotate's NULs, tend's punched ranges
			num, _, _ := bytes.Cut(l, []byte{' '})
			if k, err := strconv.Atoi(string(num)); err == nil && k >= 1 && k <= total {
				seen[k] = true
			}
		}
	}
	for k := 1; k <= total; k++ {
		if !seen[k] {
			lost++
		}
	}
	return lost, total, nil
}

// copytruncateLoss compares logrotate's copytruncate with tend's under the
// same fast writer: lines written but found in no file afterwards.
func copytruncateLoss(base string, rateMBps, rotations int) {
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		fmt.Fprintln(os.Stderr, "copytruncate-lines-lost: skipped, logrotate not installed (apt-get install logrotate)")
		return
	}
	every := 100 * time.Millisecond
	var lrLost, lrTotal, tLost, tTotal int
	{
		dir := filepath.Join(base, "ct-logrotate")
		check(os.MkdirAll(dir, 0o755))
		conf := filepath.Join(dir, "logrotate.conf")
		check(os.WriteFile(conf, fmt.Appendf(nil, "%s {\n  copytruncate\n  rotate 10000\n}\n", filepath.Join(dir, "app.log")), 0o644))
		state := filepath.Join(base, "ct-logrotate.state")
		lrLost, lrTotal, err = lossRun(dir, rateMBps, rotations, every, func() error {
			out, err := exec.Command(lr, "-f", "-s", state, conf).CombinedOutput()
			if err != nil {
				return fmt.Errorf("logrotate: %v: %s", err, out)
			}
			return nil
		})
		check(err)
		os.RemoveAll(dir)
	}
	{
		dir := filepath.Join(base, "ct-tend")
		check(os.MkdirAll(dir, 0o755))
		r := &rotate.Rotator{Force: true, State: filepath.Join(base, "ct-tend.json"),
			Rules: []rotate.Rule{{Path: filepath.Join(dir, "app.log"), Keep: 10000, Method: rotate.MethodCopyTruncate}}}
		tLost, tTotal, err = lossRun(dir, rateMBps, rotations, every, func() error {
			_, err := r.Rotate(context.Background())
			return err
		})
		check(err)
		os.RemoveAll(dir)
	}
	fmt.Fprintf(os.Stderr, "copytruncate at %d MB/s, %d rotations: logrotate lost %d of %d lines (%.2f%%), tend lost %d of %d (%.2f%%)\n",
		rateMBps, rotations, lrLost, lrTotal, 100*float64(lrLost)/float64(max(lrTotal, 1)), tLost, tTotal, 100*float64(tLost)/float64(max(tTotal, 1)))
	ratio := 0.0
	if lrLost > 0 {
		ratio = float64(tLost) / float64(lrLost)
	}
	fmt.Printf("copytruncate-lines-lost ratio=%.2f (tend %d lines vs peer logrotate %d lines, of ~%d at %d MB/s, %d rotations)\n",
		ratio, tLost, lrLost, (lrTotal+tTotal)/2, rateMBps, rotations)
}
