package cleanup

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// dirent encodes one linux_dirent64 record, padded to 8 bytes as the
// kernel does.
func dirent(ino uint64, typ uint8, name string) []byte {
	n := (direntName + len(name) + 1 + 7) &^ 7
	b := make([]byte, n)
	binary.NativeEndian.PutUint64(b, ino)
	binary.NativeEndian.PutUint16(b[direntReclen:], uint16(n))
	b[direntType] = typ
	copy(b[direntName:], name)
	return b
}

func TestAppendEntries(t *testing.T) {
	var b []byte
	for _, r := range []struct {
		ino  uint64
		typ  uint8
		name string
	}{
		{1, unix.DT_DIR, "."}, {2, unix.DT_DIR, ".."}, {3, unix.DT_DIR, "sub"}, {4, unix.DT_REG, "file"},
		{0, unix.DT_REG, "deleted"}, {5, unix.DT_LNK, "link"}, {6, unix.DT_UNKNOWN, "unknown"},
		{7, unix.DT_REG, "new\nline\xff"}, {8, unix.DT_REG, strings.Repeat("n", 255)},
	} {
		b = append(b, dirent(r.ino, r.typ, r.name)...)
	}
	assert.Equal(t, []DirEntry{{"sub", true, true}, {"file", false, true}, {"link", false, true}, {"unknown", false, false},
		{"new\nline\xff", false, true}, {strings.Repeat("n", 255), false, true}}, appendEntries(nil, b))
	// A record cut short or claiming more than is there ends the parse.
	assert.Equal(t, []DirEntry{{"sub", true, true}}, appendEntries(nil, append(dirent(3, unix.DT_DIR, "sub"), dirent(4, unix.DT_REG, "file")[:20]...)))
}

// FuzzAppendEntries: whatever the bytes, parsing neither panics nor reads
// past them, and a name is never empty, ".", ".." or holding a NUL.
func FuzzAppendEntries(f *testing.F) {
	f.Add(append(dirent(3, unix.DT_DIR, "sub"), dirent(4, unix.DT_REG, "file")...))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range appendEntries(nil, b) {
			if e.Name == "" || strings.IndexByte(e.Name, 0) >= 0 || e.Name == "." || e.Name == ".." || len(e.Name) > len(b) {
				t.Fatalf("bad entry %q from %x", e.Name, b)
			}
		}
	})
}
