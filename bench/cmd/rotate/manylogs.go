package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tendkit/tend/rotate"
)

// manyLogs times one rotation run over n logs matched by one glob, each
// with three numbered backups already (so shifts and deletes happen), by
// logrotate and by tend's Rotator, on the same files rebuilt before every
// run: rotate 7, size 1, create, no compression, or with gz set compress
// (the older backups already .gz, as they are after earlier rotations).
// It prints the median wall time and CPU time (user+sys, less sensitive
// to the load of a shared machine) of each, and their ratio.
func manyLogs(dir string, n, reps int, gz bool) {
	if n <= 0 {
		return
	}
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		fmt.Printf("rotator-%d-logs%s skipped: logrotate not installed\n", n, suffix(gz))
		return
	}
	logs := filepath.Join(dir, "many")
	ext := ""
	if gz {
		ext = ".gz"
	}
	populate := func() {
		check(os.RemoveAll(logs))
		check(os.MkdirAll(logs, 0o755))
		body := []byte(strings.Repeat("2025-06-01T00:00:00Z INFO a line of a log\n", 5))
		for i := range n {
			p := filepath.Join(logs, fmt.Sprintf("app%05d.log", i))
			check(os.WriteFile(p, body, 0o644))
			for k := 1; k <= 3; k++ {
				check(os.WriteFile(fmt.Sprintf("%s.%d%s", p, k, ext), body, 0o644))
			}
		}
		syncAll()
	}
	conf := filepath.Join(dir, "many.conf")
	compress := "nocompress"
	if gz {
		compress = "compress"
	}
	check(os.WriteFile(conf, []byte(logs+"/*.log {\n  rotate 7\n  size 1\n  create\n  missingok\n  "+compress+"\n}\n"), 0o644))
	var tendT, lrT, tendCPU, lrCPU []float64
	for i := range reps {
		populate()
		state := filepath.Join(dir, "many-logrotate.state")
		os.Remove(state)
		t0 := time.Now()
		cmd := exec.Command(lr, "-s", state, conf)
		out, err := cmd.CombinedOutput()
		if err != nil {
			check(fmt.Errorf("logrotate: %v: %s", err, out))
		}
		lrT = append(lrT, time.Since(t0).Seconds())
		lrCPU = append(lrCPU, (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
		checkRotated(logs, n, ext)

		populate()
		r := &rotate.Rotator{State: filepath.Join(dir, "many-tend.json"), Rules: []rotate.Rule{{
			Path: logs + "/*.log", Size: 1, Keep: 7, Create: &rotate.Create{UID: -1, GID: -1}}}}
		if gz {
			r.Rules[0].Compress = rotate.CompressionGzip
		}
		os.Remove(r.State)
		c0 := cpuTime()
		t0 = time.Now()
		rep, err := r.Rotate(context.Background())
		check(err)
		tendT = append(tendT, time.Since(t0).Seconds())
		tendCPU = append(tendCPU, cpuTime()-c0)
		if rep.Rotations() != n {
			check(fmt.Errorf("tend rotated %d of %d logs", rep.Rotations(), n))
		}
		checkRotated(logs, n, ext)
		fmt.Fprintf(os.Stderr, "  %d logs%s rep %d: tend %.2f s (CPU %.2f s), logrotate %.2f s (CPU %.2f s)\n", n, suffix(gz), i, tendT[i], tendCPU[i], lrT[i], lrCPU[i])
	}
	os.RemoveAll(logs)
	fmt.Printf("rotator-%d-logs%s ratio=%.2f (tend %.2fs vs peer logrotate %.2fs)\n", n, suffix(gz), median(tendT)/median(lrT), median(tendT), median(lrT))
	fmt.Printf("rotator-%d-logs%s-cpu ratio=%.2f (tend %.2fs vs peer logrotate %.2fs; user+sys)\n", n, suffix(gz), median(tendCPU)/median(lrCPU), median(tendCPU), median(lrCPU))
}

func suffix(gz bool) string {
	if gz {
		return "-gzip"
	}
	return ""
}

// cpuTime is this process's user+sys time in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// checkRotated makes sure a run did the work: every log has a .4 now.
func checkRotated(logs string, n int, ext string) {
	m, err := filepath.Glob(filepath.Join(logs, "*.log.4"+ext))
	check(err)
	if len(m) != n {
		check(fmt.Errorf("%d of %d logs rotated", len(m), n))
	}
}

func syncAll() { _ = exec.Command("sync").Run() }
