package rotate

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestDropCopiedFallbacks drives dropCopied through each strategy by
// refusing fallocate modes as file systems do (tmpfs and ext2 have no
// collapse-range; vfat has neither). The file systems here support both,
// so the refusals are simulated; the tmpfs stress test covers the real
// punch-hole fallback.
func TestDropCopiedFallbacks(t *testing.T) {
	const blk = 4096
	appender := []opener{{PID: 1, FD: 3, fdInfo: fdInfo{Flags: unix.O_WRONLY | unix.O_APPEND}}}
	seeker := []opener{{PID: 1, FD: 3, fdInfo: fdInfo{Flags: unix.O_WRONLY, Pos: 3 * blk}}}
	refuse := func(modes uint32, err error) fallocFunc {
		return func(fd int, mode uint32, off, n int64) error {
			if mode&modes != 0 {
				return err
			}
			return unix.Fallocate(fd, mode, off, n)
		}
	}
	cases := []struct {
		name     string
		writers  []opener
		falloc   fallocFunc
		cut      int64
		detail   string
		size     int64  // of the live file afterwards
		log      string // expected in the log
		wantErr  string
		keepTail bool // the bytes past cut are still there
		same     bool // the file is untouched
	}{
		{name: "append writer, collapse", writers: appender, falloc: unix.Fallocate, cut: 2*blk + 10,
			detail: "collapse-range 8192 bytes + punch-hole 10", size: blk, keepTail: true},
		{name: "no writer, aligned collapse", falloc: unix.Fallocate, cut: 2 * blk,
			detail: "collapse-range 8192 bytes", size: blk, keepTail: true},
		{name: "writer at its own offset, punch", writers: seeker, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE, unix.EIO), cut: 2*blk + 10,
			detail: "punch-hole 8202 bytes", size: 3 * blk, keepTail: true},
		{name: "no collapse-range (tmpfs): punch", writers: appender, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE, unix.EOPNOTSUPP), cut: 2*blk + 10,
			detail: "punch-hole 8202 bytes (no collapse-range here: they read as NULs until the next rotation)", size: 3 * blk, keepTail: true},
		{name: "no collapse-range (tmpfs), nothing written since the copy: punch, never truncate", writers: appender, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE, unix.EOPNOTSUPP), cut: 3 * blk,
			detail: "punch-hole 12288 bytes (no collapse-range here: they read as NULs until the next rotation)", size: 3 * blk},
		{name: "writer at its own offset, nothing written since the copy: punch, not truncate", writers: seeker, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE, unix.EOPNOTSUPP), cut: 3 * blk,
			detail: "punch-hole 12288 bytes", size: 3 * blk},
		{name: "no fallocate at all (vfat)", writers: appender, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_PUNCH_HOLE, unix.EOPNOTSUPP), cut: 2*blk + 10,
			detail: "truncate (lossy fallback: no fallocate support)", size: 0, log: "level=WARN msg=\"file system supports neither"},
		{name: "old kernel (ENOSYS)", writers: seeker, falloc: refuse(unix.FALLOC_FL_PUNCH_HOLE, unix.ENOSYS), cut: 10,
			detail: "truncate (lossy fallback: no fallocate support)", size: 0, log: "level=WARN"},
		{name: "I/O error is an error, not a truncate", writers: appender, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE, unix.EIO), cut: 2 * blk,
			wantErr: "collapse-range: input/output error", size: 3 * blk, same: true},
		{name: "nothing copied", writers: appender, falloc: refuse(0xff, unix.EIO), cut: 0,
			detail: "nothing to drop", size: 3 * blk, same: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			data := bytes.Repeat([]byte("0123456789abcde\n"), 3*blk/16)
			require.NoError(t, os.WriteFile(path, data, 0o644))
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			var logs bytes.Buffer
			detail, err := dropCopied(f, tc.cut, tc.writers, slog.New(slog.NewTextHandler(&logs, nil)), tc.falloc)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.detail, detail)
			}
			if tc.log != "" {
				assert.Contains(t, logs.String(), tc.log)
			} else {
				assert.NotContains(t, logs.String(), "WARN")
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.size, int64(len(got)), "size of the live log")
			if tc.same {
				assert.Equal(t, data, got, "the live log is untouched")
			}
			if tc.keepTail {
				// What followed the cut is still at the end of the file, and
				// nothing but zeros (a hole) comes before it.
				tail := data[tc.cut:]
				require.True(t, bytes.HasSuffix(got, tail), "tail kept")
				assert.Empty(t, strings.Trim(string(got[:len(got)-len(tail)]), "\x00"), "only a hole before the tail")
			}
		})
	}
}

// TestCopyTruncateTmpfsPunches rotates, with copytruncate on a real tmpfs
// (punch-hole, no collapse-range), a log that an O_APPEND writer adds a
// line to every 10 ms: every drop punches (never a truncate, which could
// lose a line written between a size check and the truncate), and every
// line is found exactly once.
func TestCopyTruncateTmpfsPunches(t *testing.T) {
	dir := mountTmpfs(t, "16m")
	path := filepath.Join(dir, "app.log")
	w := startStuckWriter(t, path)
	r := &Rotator{State: filepath.Join(dir, "state.json"),
		Rules: []Rule{{Path: path, Size: 1, Keep: 100, Method: MethodCopyTruncate}}}
	punched := 0
	for range 20 {
		time.Sleep(30 * time.Millisecond)
		rep, err := r.Rotate(context.Background())
		require.NoError(t, err)
		for _, a := range rep.Files[0].Actions {
			if a.Op != OpDrop {
				continue
			}
			assert.True(t, strings.HasPrefix(a.Detail, "punch-hole "), a.Detail)
			punched++
		}
	}
	assert.Positive(t, punched)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, syscall.Kill(-w.Process.Pid, syscall.SIGKILL))
	w.Wait()

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b = bytes.TrimRight(bytes.ReplaceAll(b, []byte{0}, nil), "\n")
	lines := strings.Split(string(b), "\n")
	last, err := strconv.Atoi(strings.TrimPrefix(lines[len(lines)-1], "line "))
	require.NoError(t, err, "last line %q", lines[len(lines)-1])
	assertEveryLineOnce(t, path, last)
}
