package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tendkit/tend/rotate"
)

const spinEnv = "TEND_BENCH_ROTATE_SPIN"

// spin burns a CPU until killed.
func spin() {
	x := 0
	for {
		x++
	}
}

// busyWriter runs, while one spinning process per core keeps every core
// busy, a plain *os.File and a Writer with gzip compression (its
// compressor at nice 19) in turn, reps times each, and prints the median
// worst single Write of each and their ratio.
func busyWriter(dir string, lines [][]byte, total, fsize int64, reps int) {
	var spinners []*exec.Cmd
	for range runtime.NumCPU() {
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), spinEnv+"=1")
		check(c.Start())
		spinners = append(spinners, c)
	}
	defer func() {
		for _, c := range spinners {
			c.Process.Kill()
			c.Wait()
		}
	}()
	worst := func(name string, mk func(string) io.WriteCloser) []float64 {
		var out []float64
		for i := range reps {
			sub := filepath.Join(dir, fmt.Sprintf("busy-%s-%d", name, i))
			check(os.MkdirAll(sub, 0o755))
			w := mk(filepath.Join(sub, "app.log"))
			var wst time.Duration
			for j := int64(0); j < total/1024; j++ {
				t0 := time.Now()
				_, err := w.Write(lines[j%int64(len(lines))])
				check(err)
				wst = max(wst, time.Since(t0))
			}
			check(w.Close())
			out = append(out, float64(wst.Microseconds())/1000)
			fmt.Fprintf(os.Stderr, "  busy %-12s rep %d: worst write %8.2f ms\n", name, i, out[i])
			os.RemoveAll(sub)
		}
		return out
	}
	var plain, tend []float64
	for range 1 {
		plain = worst("os.File", func(p string) io.WriteCloser {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			check(err)
			return f
		})
		tend = worst("tend+gzip", func(p string) io.WriteCloser {
			return &rotate.Writer{Filename: p, MaxSize: fsize, MaxBackups: 5, Compress: rotate.CompressionGzip}
		})
	}
	line("writer-worst-write-busy-cores", median(tend), "ms", "os.File", median(plain))
}
