package rotate

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		{name: "no collapse-range (tmpfs)", writers: appender, falloc: refuse(unix.FALLOC_FL_COLLAPSE_RANGE, unix.EOPNOTSUPP), cut: 2*blk + 10,
			detail: "punch-hole 8202 bytes", size: 3 * blk, log: "punching a hole instead", keepTail: true},
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
