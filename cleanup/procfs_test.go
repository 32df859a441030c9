package cleanup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestReadProcFixture(t *testing.T) {
	h, err := readHeld("testdata/proc-noatime")
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
	h, err := readHeld("/proc")
	require.NoError(t, err)
	assert.True(t, h.open[fileID{st.Dev, st.Ino}], "our own open file is seen in /proc/self/fd")
}

func FuzzParseProc(f *testing.F) {
	for _, p := range []string{"testdata/proc-noatime/self/mountinfo", "testdata/proc-noatime/locks", "testdata/proc-noatime/42/maps"} {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("1: FLOCK ADVISORY WRITE 1 zz:zz:zz 0 EOF\n\\\n0 0 0 0 \\04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseMountInfo(data)
		parseLocks(data, map[fileID]bool{})
		parseMaps(data, map[fileID]bool{})
		unescapeMount(string(data))
	})
}
