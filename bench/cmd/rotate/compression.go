package main

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tendkit/tend/rotate"
)

// compression times the Rotator compressing a rotated log of mib MiB of
// realistic lines (rename, then gzip or zstd to a temporary name, fsync,
// rename) against the standard library's gzip at its default level 6
// doing the same file to file with an fsync, and compares the sizes with
// the gzip program's -6.
func compression(base string, mib, reps int) {
	// Every line different: repeating a small set would let zstd's large
	// window find whole repeated lines, which real logs do not offer.
	var src bytes.Buffer
	for _, l := range makeLines(mib << 10) {
		src.Write(l)
	}
	data := src.Bytes()
	dir := filepath.Join(base, "compress")
	check(os.MkdirAll(dir, 0o755))
	defer os.RemoveAll(dir)
	log := filepath.Join(dir, "app.log")

	tendRun := func(c rotate.Compression) (mbps, ratio float64) {
		var speeds []float64
		var size int64
		for range reps {
			check(os.WriteFile(log, data, 0o644))
			r := &rotate.Rotator{Force: true, Rules: []rotate.Rule{{Path: log, Keep: 1, Compress: c}}}
			t0 := time.Now()
			rep, err := r.Rotate(context.Background())
			el := time.Since(t0)
			check(err)
			if rep.BytesCompressed() != int64(len(data)) {
				check(fmt.Errorf("rotator compressed %d bytes, want %d", rep.BytesCompressed(), len(data)))
			}
			st, err := os.Stat(log + ".1" + c.Ext())
			check(err)
			size = st.Size()
			speeds = append(speeds, float64(len(data))/1e6/el.Seconds())
			os.Remove(log + ".1" + c.Ext())
			os.Remove(log)
		}
		mbps, ratio = median(speeds), float64(len(data))/float64(size)
		fmt.Fprintf(os.Stderr, "  Rotator %-14s %6.0f MB/s, ratio %.2f\n", c, mbps, ratio)
		return
	}
	stdRun := func() (mbps, ratio float64) {
		var speeds []float64
		var size int64
		check(os.WriteFile(log, data, 0o644))
		for range reps {
			t0 := time.Now()
			in, err := os.ReadFile(log)
			check(err)
			out, err := os.Create(log + ".gz")
			check(err)
			zw := stdgzip.NewWriter(out)
			_, err = zw.Write(in)
			check(err)
			check(zw.Close())
			check(out.Sync())
			check(out.Close())
			speeds = append(speeds, float64(len(data))/1e6/time.Since(t0).Seconds())
			st, err := os.Stat(log + ".gz")
			check(err)
			size = st.Size()
			os.Remove(log + ".gz")
		}
		mbps, ratio = median(speeds), float64(len(data))/float64(size)
		fmt.Fprintf(os.Stderr, "  stdlib gzip -6         %6.0f MB/s, ratio %.2f\n", mbps, ratio)
		return
	}
	std, _ := stdRun()
	gz, gzRatio := tendRun(rotate.CompressionGzip)
	zs, zsRatio := tendRun(rotate.CompressionZstd)
	line("compress-gzip", gz, "MB/s", "stdlib-gzip-6", std)
	line("compress-zstd", zs, "MB/s", "stdlib-gzip-6", std)

	// The gzip program's -6, as logrotate's compress runs it.
	prog, err := exec.LookPath("gzip")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compress ratio vs gzip -6: skipped, gzip not installed")
		return
	}
	check(os.WriteFile(log, data, 0o644))
	t0 := time.Now()
	out, err := exec.Command(prog, "-6", "-c", log).Output()
	check(err)
	progMBps := float64(len(data)) / 1e6 / time.Since(t0).Seconds()
	progRatio := float64(len(data)) / float64(len(out))
	fmt.Fprintf(os.Stderr, "  gzip -6 (program)      %6.0f MB/s, ratio %.2f (one run)\n", progMBps, progRatio)
	fmt.Printf("compress-gzip-ratio ratio=%.3f (tend %.2f vs peer gzip-6 %.2f; compression ratios, within 10%% means >= 0.90)\n", gzRatio/progRatio, gzRatio, progRatio)
	fmt.Printf("compress-zstd-ratio ratio=%.3f (tend %.2f vs peer gzip-6 %.2f)\n", zsRatio/progRatio, zsRatio, progRatio)
}
