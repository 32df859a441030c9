package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tendkit/tend/rotate"
)

// manyLogs times one rotation run over n logs matched by one glob, each
// with three numbered backups already (so shifts and deletes happen), by
// logrotate and by tend's Rotator, on the same files rebuilt before every
// run: rotate 7, size 1, create, no compression. It prints the median
// wall time of each and their ratio.
func manyLogs(dir string, n, reps int) {
	if n <= 0 {
		return
	}
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		fmt.Printf("rotator-%d-logs skipped: logrotate not installed\n", n)
		return
	}
	logs := filepath.Join(dir, "many")
	populate := func() {
		check(os.RemoveAll(logs))
		check(os.MkdirAll(logs, 0o755))
		body := []byte(strings.Repeat("2025-06-01T00:00:00Z INFO a line of a log\n", 5))
		for i := range n {
			p := filepath.Join(logs, fmt.Sprintf("app%05d.log", i))
			check(os.WriteFile(p, body, 0o644))
			for k := 1; k <= 3; k++ {
				check(os.WriteFile(fmt.Sprintf("%s.%d", p, k), body, 0o644))
			}
		}
		syncAll()
	}
	conf := filepath.Join(dir, "many.conf")
	check(os.WriteFile(conf, []byte(logs+"/*.log {\n  rotate 7\n  size 1\n  create\n  missingok\n  nocompress\n}\n"), 0o644))
	var tendT, lrT []float64
	for i := range reps {
		populate()
		state := filepath.Join(dir, "many-logrotate.state")
		os.Remove(state)
		t0 := time.Now()
		out, err := exec.Command(lr, "-s", state, conf).CombinedOutput()
		if err != nil {
			check(fmt.Errorf("logrotate: %v: %s", err, out))
		}
		lrT = append(lrT, time.Since(t0).Seconds())
		checkRotated(logs, n)

		populate()
		r := &rotate.Rotator{State: filepath.Join(dir, "many-tend.json"), Rules: []rotate.Rule{{
			Path: logs + "/*.log", Size: 1, Keep: 7, Create: &rotate.Create{UID: -1, GID: -1}}}}
		os.Remove(r.State)
		t0 = time.Now()
		rep, err := r.Rotate(context.Background())
		check(err)
		tendT = append(tendT, time.Since(t0).Seconds())
		if rep.Rotations() != n {
			check(fmt.Errorf("tend rotated %d of %d logs", rep.Rotations(), n))
		}
		checkRotated(logs, n)
		fmt.Fprintf(os.Stderr, "  %d logs rep %d: tend %.2f s, logrotate %.2f s\n", n, i, tendT[i], lrT[i])
	}
	os.RemoveAll(logs)
	fmt.Printf("rotator-%d-logs ratio=%.2f (tend %.2fs vs peer logrotate %.2fs)\n", n, median(tendT)/median(lrT), median(tendT), median(lrT))
}

// checkRotated makes sure a run did the work: every log has a .4 now.
func checkRotated(logs string, n int) {
	m, err := filepath.Glob(filepath.Join(logs, "*.log.4"))
	check(err)
	if len(m) != n {
		check(fmt.Errorf("%d of %d logs rotated", len(m), n))
	}
}

func syncAll() { _ = exec.Command("sync").Run() }
