// Command rotate compares tend's rotate.Writer with a plain *os.File and
// lumberjack (throughput and worst single Write, rotations included, with
// and without compression), the Rotator's compression with the standard
// library's gzip (speed) and the gzip program's -6 (ratio), and the lines
// lost by copytruncate under a fast writer, logrotate's against tend's.
// It prints one line per comparison:
//
//	NAME ratio=X (tend A vs peer B)
//
// The figures are for 2 GiB per Writer run (-size 2048); the
// default is 512 MiB (or $TEND_BENCH_ROTATE_MIB) so that bench/run stays
// within a few minutes. The first output line says which size was used.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/tendkit/tend/rotate"
)

func main() {
	if os.Getenv(spinEnv) != "" {
		spin()
	}
	if path := os.Getenv(writerEnv); path != "" {
		rate, _ := strconv.Atoi(os.Getenv("TEND_BENCH_ROTATE_RATE"))
		runWriter(path, max(rate, 1))
		return
	}
	defSize := int64(512)
	if v, err := strconv.ParseInt(os.Getenv("TEND_BENCH_ROTATE_MIB"), 10, 64); err == nil && v > 0 {
		defSize = v
	}
	total := flag.Int64("size", defSize, "MiB written per Writer run (2048 for the issue's 2 GiB; default $TEND_BENCH_ROTATE_MIB or 512)")
	fileMiB := flag.Int64("file", 100, "MiB per log file before rotation")
	reps := flag.Int("reps", 3, "repetitions (medians are printed)")
	compMiB := flag.Int("compress", 100, "MiB of log compressed per compressor run")
	dir := flag.String("dir", "", "where to write (default: a temp dir under $TMPDIR)")
	ctRate := flag.Int("ct-rate", 50, "MB/s of the writer in the copytruncate comparison")
	ctRotations := flag.Int("ct-rotations", 20, "rotations in the copytruncate comparison")
	nLogs := flag.Int("logs", 5000, "logs in the Rotator-vs-logrotate run (0 skips it)")
	only := flag.String("only", "", "run only this part: logs (the Rotator over many logs), busy (the Writer with every core busy) or copytruncate (lines lost, in -dir: ext4 or tmpfs)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "tend-bench-rotate")
		check(err)
		defer os.RemoveAll(d)
		*dir = d
	}
	if *only == "copytruncate" {
		copytruncateLoss(*dir, *ctRate, *ctRotations)
		return
	}
	if *only == "logs" {
		manyLogs(*dir, *nLogs, *reps, false)
		manyLogs(*dir, *nLogs, *reps, true)
		return
	}
	lines := makeLines(4096)
	if *only == "busy" {
		busyWriter(*dir, lines, *total<<20, *fileMiB<<20, *reps)
		return
	}
	fmt.Fprintf(os.Stderr, "writing %d MiB of 1 KiB lines per run, %d MiB files, %d reps (medians), in %s\n", *total, *fileMiB, *reps, *dir)
	fmt.Printf("# rotate: Writer figures from %d MiB per run in %d MiB files, %d reps, medians\n", *total, *fileMiB, *reps)

	type result struct{ mbps, worst, worstRot []float64 }
	fsize := *fileMiB << 20
	run := func(name string, mk func(path string) io.WriteCloser) result {
		var r result
		for i := range *reps {
			sub := filepath.Join(*dir, fmt.Sprintf("%s-%d", name, i))
			check(os.MkdirAll(sub, 0o755))
			w := mk(filepath.Join(sub, "app.log"))
			n := *total << 20
			var worst, worstRot time.Duration // worstRot: the writes that cross a file boundary
			perFile := fsize / 1024
			start := time.Now()
			for j := int64(0); j < n/1024; j++ {
				t0 := time.Now()
				if _, err := w.Write(lines[j%int64(len(lines))]); err != nil {
					check(err)
				}
				d := time.Since(t0)
				if d > worst {
					worst = d
				}
				if j > 0 && j%perFile == 0 && d > worstRot {
					worstRot = d
				}
			}
			elapsed := time.Since(start)
			check(w.Close())
			r.mbps = append(r.mbps, float64(n)/1e6/elapsed.Seconds())
			r.worst = append(r.worst, float64(worst.Microseconds())/1000)
			r.worstRot = append(r.worstRot, float64(worstRot.Microseconds())/1000)
			fmt.Fprintf(os.Stderr, "  %-22s rep %d: %6.0f MB/s, worst write %8.2f ms (worst at a file boundary %8.2f ms)\n",
				name, i, r.mbps[i], r.worst[i], float64(worstRot.Microseconds())/1000)
			os.RemoveAll(sub)
		}
		return r
	}
	plain := run("os.File", func(p string) io.WriteCloser {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		check(err)
		return f
	})
	tend := run("tend", func(p string) io.WriteCloser { return &rotate.Writer{Filename: p, MaxSize: fsize} })
	lj := run("lumberjack", func(p string) io.WriteCloser {
		return &lumberjack.Logger{Filename: p, MaxSize: int(*fileMiB)}
	})
	tendZ := run("tend+gzip", func(p string) io.WriteCloser {
		return &rotate.Writer{Filename: p, MaxSize: fsize, Compress: rotate.CompressionGzip}
	})
	ljZ := run("lumberjack+gzip", func(p string) io.WriteCloser {
		return &lumberjack.Logger{Filename: p, MaxSize: int(*fileMiB), Compress: true}
	})
	line("writer-throughput", median(tend.mbps), "MB/s", "os.File", median(plain.mbps))
	line("writer-throughput-lumberjack", median(tend.mbps), "MB/s", "lumberjack", median(lj.mbps))
	line("writer-worst-write", median(tend.worst), "ms", "lumberjack", median(lj.worst))
	line("writer-worst-write-vs-file", median(tend.worst), "ms", "os.File", median(plain.worst))
	line("writer-worst-write-compress", median(tendZ.worst), "ms", "lumberjack", median(ljZ.worst))
	line("writer-worst-rotating-write", median(tend.worstRot), "ms", "lumberjack", median(lj.worstRot))
	line("writer-worst-rotating-write-compress", median(tendZ.worstRot), "ms", "lumberjack", median(ljZ.worstRot))
	line("writer-throughput-compress", median(tendZ.mbps), "MB/s", "lumberjack", median(ljZ.mbps))

	busyWriter(*dir, lines, *total<<20, *fileMiB<<20, *reps)
	compression(*dir, *compMiB, *reps)
	copytruncateLoss(*dir, *ctRate, *ctRotations)
	manyLogs(*dir, *nLogs, *reps, false)
	manyLogs(*dir, *nLogs, *reps, true)
}

// line prints one comparison; ratio is tend's figure over the peer's.
func line(name string, tend float64, unit, peer string, peerV float64) {
	f := "%.0f"
	if unit == "ms" {
		f = "%.2f"
	}
	fmt.Printf("%s ratio=%.2f (tend "+f+"%s vs peer %s "+f+"%s)\n", name, tend/peerV, tend, unit, peer, peerV, unit)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// makeLines builds n realistic 1 KiB log lines (timestamps, levels, paths,
// ids, words), each ending in a newline.
func makeLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields(`request response kernel session notebook user alice bob carol
		GET POST PUT DELETE /api/kernels /api/sessions /api/contents /lab/tree status ok
		started finished loss accuracy epoch step batch lr grad_norm cuda memory allocated
		reserved device cuda:0 cuda:1 checkpoint saved loading dataset tokenizer shard
		worker rank world_size nccl timeout retry warning deprecated torch.compile graph`)
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR"}
	t := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		t = t.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s [%s] pid=%d req=%016x ", t.Format("2006-01-02T15:04:05.000Z"), levels[rng.IntN(len(levels))],
			words[rng.IntN(len(words))], 1000+rng.IntN(50), rng.Uint64())
		for b.Len() < 1023 {
			switch rng.IntN(5) {
			case 0:
				fmt.Fprintf(&b, "%s=%.4f ", words[rng.IntN(len(words))], rng.Float64()*10)
			case 1:
				fmt.Fprintf(&b, "%d ", rng.IntN(100000))
			default:
				b.WriteString(words[rng.IntN(len(words))] + " ")
			}
		}
		s := b.String()[:1023] + "\n"
		out[i] = []byte(s)
	}
	return out
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "rotate bench:", err)
		os.Exit(1)
	}
}
