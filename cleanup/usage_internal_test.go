package cleanup

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A file with several names counts once, in the first of its entries by
// name whatever the order met, and is forgotten once all its names are met.
func TestUsageLinkedOnceAndForgotten(t *testing.T) {
	a := newUsageAcc(true)
	b, c := a.entry("b"), a.entry("c")
	f := Info{Type: TypeFile, Ino: 7, Nlink: 3, Size: 1000, Blocks: 8}
	a.file(c, f, 10)
	a.file(b, f, 20)
	assert.Len(t, a.linked, 1, "one name still to be met")
	a.file(c, f, 30)
	assert.Empty(t, a.linked, "all three names met: forgotten")
	assert.Equal(t, int64(4096), a.total.bytes.Load())
	assert.Equal(t, int64(1), a.total.files.Load())
	assert.Equal(t, int64(4096), b.bytes.Load(), "counted in b, the first by name")
	assert.Equal(t, int64(0), c.bytes.Load())
	assert.Equal(t, int64(0), c.files.Load())
	assert.Equal(t, int64(30), c.last.Load(), "each entry holding a name takes its use")
	assert.Equal(t, int64(20), b.last.Load())

	// Without per-entry usage, only the total.
	a = newUsageAcc(false)
	a.file(a.entry("x"), f, 1)
	a.file(a.entry("y"), f, 1)
	assert.Equal(t, int64(1), a.total.files.Load())
	assert.Nil(t, a.entries)
}
