package rotate

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readWriterLogs returns every line of the Writer's backups and live file.
func readWriterLogs(t *testing.T, w *Writer) []string {
	t.Helper()
	var all []string
	names := []string{w.Filename}
	for _, b := range w.writerBackups() {
		names = append(names, b.path)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		b = decompress(t, n, b)
		all = append(all, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	return all
}

func TestWriterEightGoroutinesLoseNothing(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var rots []Rotation
	w := &Writer{Filename: filepath.Join(dir, "app.log"), MaxSize: 64 << 10, MaxBackups: KeepAll, Compress: CompressionZstd,
		OnRotate: func(r Rotation) { mu.Lock(); rots = append(rots, r); mu.Unlock() }}
	const perG = 20000
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range perG {
				_, err := fmt.Fprintf(w, "g%d line %d\n", g, i)
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	lines := readWriterLogs(t, w)
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
	}
	for g := range 8 {
		for i := range perG {
			if n := seen[fmt.Sprintf("g%d line %d", g, i)]; n != 1 {
				t.Fatalf("g%d line %d appears %d times", g, i, n)
			}
		}
	}
	assert.Len(t, lines, 8*perG)
	assert.Greater(t, len(rots), 10, "rotations")
	for _, r := range rots {
		assert.True(t, strings.HasSuffix(r.Backup, ".zst"), r.Backup)
		assert.FileExists(t, r.Backup)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		assert.NotContains(t, e.Name(), "tend-tmp", "no temporary files left after Close")
		if e.Name() != "app.log" {
			assert.True(t, strings.HasSuffix(e.Name(), ".zst"), "every backup compressed by Close: %s", e.Name())
		}
	}
	_, err := w.Write([]byte("late\n"))
	assert.ErrorIs(t, err, os.ErrClosed)
}

func TestWriterTimeTriggerAndCollisionFreeNames(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	w := &Writer{Filename: filepath.Join(dir, "app.log"), Every: time.Hour, MaxBackups: KeepAll, Now: clk.Now}
	write := func(s string) { _, err := w.Write([]byte(s + "\n")); require.NoError(t, err) }
	write("a")
	clk.Add(59 * time.Minute)
	write("b")
	assert.Empty(t, w.writerBackups(), "not yet an hour")
	clk.Add(time.Minute)
	write("c")
	// Forced rotations at the same instant get -1, -2 names.
	require.NoError(t, w.Rotate())
	write("d")
	require.NoError(t, w.Rotate())
	write("e")
	require.NoError(t, w.Close())
	var names []string
	for _, b := range w.writerBackups() {
		names = append(names, filepath.Base(b.path))
	}
	assert.Equal(t, []string{"app-2025-03-01T11-00-00.000-2.log", "app-2025-03-01T11-00-00.000-1.log", "app-2025-03-01T11-00-00.000.log"}, names)
	assert.Equal(t, []string{"e", "d", "c", "a", "b"}, readWriterLogs(t, w))
}

func TestWriterRetention(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	w := &Writer{Filename: filepath.Join(dir, "app.log"), MaxSize: 10, MaxBackups: 3, MaxTotalBytes: 25, Now: clk.Now}
	for i := range 10 {
		clk.Add(time.Second)
		_, err := fmt.Fprintf(w, "line %03d\n", i) // 9 bytes: one per file
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	got := readWriterLogs(t, w)
	assert.Equal(t, []string{"line 009", "line 008", "line 007"}, got, "live file + 2 backups: the third would pass 25 bytes")

	w2 := &Writer{Filename: w.Filename, MaxSize: 10, MaxBackups: KeepAll, MaxAge: 1500 * time.Millisecond, Now: clk.Now}
	clk.Add(time.Second)
	require.NoError(t, w2.Rotate())
	require.NoError(t, w2.Close())
	assert.Len(t, w2.writerBackups(), 2, "backups older than MaxAge deleted")
}

func TestWriterAppendsNeverTruncates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	require.NoError(t, os.WriteFile(path, []byte("before\n"), 0o600))
	w := &Writer{Filename: path, Mode: 0o640, MaxSize: 100}
	_, err := w.Write([]byte("after\n"))
	require.NoError(t, err)
	require.NoError(t, w.Sync())
	b, _ := os.ReadFile(path)
	assert.Equal(t, "before\nafter\n", string(b))
	_, err = w.Write(bytes.Repeat([]byte("x"), 99))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "new files get Mode")
	assert.Equal(t, int64(99), st.Size())
}

func TestWriterRefusesDirectory(t *testing.T) {
	w := &Writer{Filename: t.TempDir()}
	_, err := w.Write([]byte("x"))
	assert.ErrorContains(t, err, "is a directory")
}

// fakeClock is a clock tests move by hand, safe for the Writer's goroutine.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestWriterCloseLeavesNoGoroutine rotates many Writers (each starting its
// background goroutine) and closes them: none of their goroutines remain.
func TestWriterCloseLeavesNoGoroutine(t *testing.T) {
	dir := t.TempDir()
	before := runtime.NumGoroutine()
	for i := range 20 {
		w := &Writer{Filename: filepath.Join(dir, fmt.Sprintf("w%d.log", i)), MaxSize: 100, MaxBackups: KeepAll, Compress: CompressionGzip}
		for range 5 {
			_, err := w.Write(bytes.Repeat([]byte("x"), 60))
			require.NoError(t, err)
		}
		require.NoError(t, w.Close())
		require.NoError(t, w.Close(), "a second Close is harmless")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left after Close")
	gz, _ := filepath.Glob(filepath.Join(dir, "*.gz"))
	assert.Len(t, gz, 20*4, "Close waited for every compression")
}

// TestWriterNoInodesThenFreed fills a tiny tmpfs's inodes so that a
// rotation renames the log but cannot create the new one: no Write fails
// (the lines go to the renamed file), and once inodes are freed the next
// rotation works and every line is found exactly once.
func TestWriterNoInodesThenFreed(t *testing.T) {
	dir := mountTmpfs(t, "8m,nr_inodes=24")
	clk := &fakeClock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	w := &Writer{Filename: filepath.Join(dir, "app.log"), MaxSize: 1000, MaxBackups: KeepAll, Now: clk.Now,
		RetryAfter: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	n, failed := 0, 0
	write := func(count int) {
		for range count {
			n++
			clk.Add(time.Millisecond)
			if _, err := fmt.Fprintf(w, "line %07d %s\n", n, strings.Repeat("x", 80)); err != nil {
				failed++
			}
		}
	}
	write(30)
	var fillers []string
	for i := 0; ; i++ {
		p := filepath.Join(dir, fmt.Sprintf("filler%d", i))
		f, err := os.Create(p)
		if err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC, "inodes exhausted")
			break
		}
		f.Close()
		fillers = append(fillers, p)
	}
	write(200) // rotations fail: no inode for the new file
	require.Error(t, w.Err(), "the rotation failure is reported")
	assert.Contains(t, logs.String(), "rotation failed")
	for _, p := range fillers {
		require.NoError(t, os.Remove(p))
	}
	clk.Add(2 * time.Second)
	write(200)
	assert.NoError(t, w.Err(), "rotations work again once inodes are back")
	require.NoError(t, w.Close())
	assert.LessOrEqual(t, failed, 1, "at most the write that hit the failure reports it")
	st, err := os.Stat(w.Filename)
	require.NoError(t, err)
	assert.Less(t, st.Size(), int64(1000), "the live log is rotated again")
	seen := map[string]int{}
	for _, l := range readWriterLogs(t, w) {
		seen[l]++
	}
	for i := 1; i <= n; i++ {
		if k := seen[fmt.Sprintf("line %07d %s", i, strings.Repeat("x", 80))]; k != 1 {
			t.Fatalf("line %d found %d times", i, k)
		}
	}
	assert.Greater(t, len(w.writerBackups()), 20, "rotations went on after the failure")
}

// TestWriterBackupsBoundedWhileCompressing rotates much faster than the
// compressor keeps up: there are never more than MaxBackups backups plus
// the one being compressed, counted on disk after every write.
func TestWriterBackupsBoundedWhileCompressing(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Filename: filepath.Join(dir, "app.log"), MaxSize: 256 << 10, MaxBackups: 5, Compress: CompressionGzip}
	line := []byte(strings.Repeat("some log text with numbers 12345 ", 3) + "\n")
	worst := 0
	for i := range 40000 {
		_, err := w.Write(line)
		require.NoError(t, err)
		if i%500 == 0 {
			// A backup being compressed is briefly there twice (plain and
			// compressed, before the plain one is removed): count names.
			stems := map[string]bool{}
			for _, b := range w.writerBackups() {
				stem, _ := splitCodec(b.path)
				stems[stem] = true
			}
			worst = max(worst, len(stems))
		}
	}
	require.NoError(t, w.Close())
	t.Logf("most backups seen: %d", worst)
	assert.LessOrEqual(t, worst, 6, "MaxBackups 5 plus the one being compressed")
	assert.LessOrEqual(t, len(w.writerBackups()), 5, "MaxBackups after Close")
	for _, b := range w.writerBackups() {
		assert.True(t, strings.HasSuffix(b.path, ".gz"), b.path)
	}
}

func TestWriterMaxBackupsZeroKeepsNone(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Filename: filepath.Join(dir, "app.log"), MaxSize: 10}
	for i := range 5 {
		_, err := fmt.Fprintf(w, "line %03d\n", i)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	assert.Empty(t, w.writerBackups(), "MaxBackups 0 keeps no backup, as keep: 0 and logrotate's rotate 0")
}
