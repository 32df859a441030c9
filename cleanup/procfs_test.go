package cleanup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestReadProcFixture(t *testing.T) {
	h, err := readHeld(context.Background(), "testdata/proc-noatime")
	require.NoError(t, err)
	assert.True(t, h.locked[fileID{unix.Mkdev(0, 0x19), 77}])
	assert.True(t, h.locked[fileID{unix.Mkdev(0xfd, 1), 1048602}])
	assert.False(t, h.locked[fileID{unix.Mkdev(0, 0x19), 78}], "a waiter holds nothing")
	assert.True(t, h.open[fileID{unix.Mkdev(0xfd, 1), 5555}], "a mapped file counts as open")
	assert.Len(t, h.open, 1)

	ms, err := readMounts("testdata/proc-noatime/self/mountinfo")
	require.NoError(t, err)
	m, ok := mountOf(ms, "/c/sub")
	require.True(t, ok)
	assert.Equal(t, "/c", m.point)
	assert.True(t, hasOption(m.options, "noatime"))
	assert.Equal(t, map[string]bool{"with space": true}, mountsUnder(ms, "/c"))
}

func TestReadHeldRealProcess(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "open"))
	require.NoError(t, err)
	defer f.Close()
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))
	h, err := readHeld(context.Background(), "/proc")
	require.NoError(t, err)
	assert.True(t, h.open[fileID{st.Dev, st.Ino}], "our own open file is seen in /proc/self/fd")
}
