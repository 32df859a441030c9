package cleanup

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// A plan's items can outnumber what memory should hold (a dry run over a
// million files), so a planner keeps only its latest items in memory and
// spills the rest, in order, to a spool: one unnamed temporary file per
// sweep (O_TMPFILE: no name appears in any directory, not even in a /tmp
// being swept), shared by every part of a parallel walk. A spilled item
// carries the directories leading to it (name, device, inode), as a
// change from the item before it in its segment, so that once its items
// are spilled a directory's record can go from memory: what stays is the
// path being walked and the directories of the items not spilled yet,
// however many directories the tree has. Each part of a parallel walk
// writes its own segments, whose directories start at the part's top;
// join records, once, the chain of directories above it (segment.prefix).

// spillAt is how many items a planner holds before it spills them.
const spillAt = 1024

// spool is the shared temporary file, created at the first write.
type spool struct {
	mu     sync.Mutex
	f      *os.File
	size   int64
	err    error
	opened bool
}

// segment is a run of items in the spool. Each item's directories are
// coded from a root record down; in a part's segment that record is the
// part's top, which prefix (once the part is joined) replaces with the
// directories from a real root down to it.
type segment struct {
	off    int64
	n      int32 // bytes
	count  int32
	prefix []dirRec
}

// chain is the directories from a root down to an item's directory.
type chain struct {
	recs []dirRec
	// keep is how many leading recs are the previous item's too.
	keep int
}

// chainer follows the items of one planner's memory: for each item's
// directory index, how much of the previous item's chain it shares and
// which records follow. Within the items it follows, no directory record
// is dropped, so an index names one directory, and a record's parent
// always has a smaller index: the chain's indices increase.
type chainer struct {
	idx []int32
	up  []int32 // scratch
}

// to moves the chain to directory x of dirs and returns how many leading
// directories it kept; c.idx[keep:] are the new ones.
func (c *chainer) to(dirs []dirRec, x int32) int {
	if n := len(c.idx); n > 0 && c.idx[n-1] == x {
		return n
	}
	c.up = c.up[:0]
	keep := 0
	for y := x; y >= 0; y = dirs[y].parent {
		if i, ok := slices.BinarySearch(c.idx, y); ok {
			keep = i + 1
			break
		}
		c.up = append(c.up, y)
	}
	c.idx = c.idx[:keep]
	for i := len(c.up) - 1; i >= 0; i-- {
		c.idx = append(c.idx, c.up[i])
	}
	return keep
}

// xlat translates a part's directory index into its parent's: the part's
// directory 0 is di, its directory x > 0 is base+x-1.
type xlat struct{ di, base int32 }

func (t xlat) apply(x int32) int32 {
	if x == 0 {
		return t.di
	}
	return t.base + x - 1
}

// chainOf returns the chain of directory x of dirs, from a root record
// down, appended to buf.
func chainOf(buf []dirRec, dirs []dirRec, x int32) []dirRec {
	n := len(buf)
	for y := x; y >= 0; y = dirs[y].parent {
		buf = append(buf, dirs[y])
	}
	slices.Reverse(buf[n:])
	return buf
}

// openSpoolFile creates the spool's file in the temporary directory.
func openSpoolFile() (*os.File, error) {
	dir := os.TempDir()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(tend sweep plan)"), nil
	}
	f, err := os.CreateTemp(dir, ".tend-sweep-plan-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// write appends b and returns where it went; after a failure every
// write fails.
func (s *spool) write(b []byte) (int64, error) {
	s.mu.Lock()
	if !s.opened {
		s.opened = true
		s.f, s.err = openSpoolFile()
	}
	if s.err != nil {
		s.mu.Unlock()
		return 0, s.err
	}
	off := s.size
	s.size += int64(len(b))
	s.mu.Unlock()
	_, err := s.f.WriteAt(b, off)
	if err != nil {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}
	return off, err
}

// encodeItems appends the encoding of items, whose directories are
// records of dirs, to b: per item, how many directories of the previous
// item's chain it keeps, the directories that follow (name, device, inode,
// root), then the item itself.
func encodeItems(b []byte, dirs []dirRec, items []item) []byte {
	var c chainer
	for i := range items {
		it := &items[i]
		keep := c.to(dirs, it.dir)
		b = binary.AppendUvarint(b, uint64(keep))
		b = binary.AppendUvarint(b, uint64(len(c.idx)-keep))
		for _, x := range c.idx[keep:] {
			d := &dirs[x]
			b = binary.AppendUvarint(b, uint64(len(d.name)))
			b = append(b, d.name...)
			b = binary.AppendUvarint(b, d.dev)
			b = binary.AppendUvarint(b, d.ino)
			b = binary.AppendUvarint(b, uint64(d.root))
		}
		b = append(b, byte(it.typ), byte(it.why))
		b = binary.AppendUvarint(b, uint64(len(it.name)))
		b = append(b, it.name...)
		b = binary.AppendVarint(b, it.size)
		b = binary.AppendUvarint(b, it.ino)
		b = binary.AppendVarint(b, it.used)
	}
	return b
}

var errSpool = errors.New("corrupt plan spool")

// decoder reads one segment's items back.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 { return decodeNum(d, binary.Uvarint) }
func (d *decoder) varint() int64   { return decodeNum(d, binary.Varint) }

// decodeNum reads one number with read (binary.Varint or Uvarint).
func decodeNum[T int64 | uint64](d *decoder, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed name (an entry's, or a root's path).
func (d *decoder) bytes() []byte {
	l := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < l {
		d.fail()
		return nil
	}
	v := d.b[:l]
	d.b = d.b[l:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errSpool
	}
	d.b = nil
}

// item reads the next item into it and moves ch to its directory: the
// segment's prefix (if any) stands for the coded chain's first record.
func (d *decoder) item(it *item, ch *chain, prefix []dirRec) {
	keep := int(d.uvarint())
	push := d.uvarint()
	if d.err != nil {
		return
	}
	off := 0 // ch.recs index of coded level 0's successor, minus 1
	if len(prefix) > 0 {
		off = len(prefix) - 1
	}
	switch {
	case keep == 0:
		ch.recs = append(ch.recs[:0], prefix...)
	case keep+off > len(ch.recs):
		d.fail()
		return
	default:
		ch.recs = ch.recs[:keep+off]
	}
	ch.keep = len(ch.recs)
	if keep == 0 {
		ch.keep = 0
	}
	for k := range push {
		name := d.bytes()
		dev, ino, root := d.uvarint(), d.uvarint(), d.uvarint()
		if d.err != nil {
			return
		}
		if keep == 0 && k == 0 && len(prefix) > 0 {
			continue // the part's top: the prefix stands for it
		}
		ch.recs = append(ch.recs, dirRec{parent: -1, root: int32(root), name: string(name), dev: dev, ino: ino})
	}
	if len(ch.recs) == 0 || len(d.b) < 2 {
		d.fail()
		return
	}
	it.dir = -1
	it.typ, it.why = Type(d.b[0]), Reason(d.b[1])
	d.b = d.b[2:]
	it.name = string(d.bytes())
	it.size = d.varint()
	it.ino = d.uvarint()
	it.used = d.varint()
}

// eachItem calls f with every item of r in order, spooled ones first, with
// the chain of directories leading to it (f must not keep ch or its
// records' slice), and for an item held in memory its directory index
// in r (spooled items have dir -1); it stops when f returns false.
func (r *Report) eachItem(f func(i int, it *item, ch *chain) bool) error {
	k := 0
	var buf []byte
	var ch chain
	var it item
	for _, sg := range r.segs {
		if cap(buf) < int(sg.n) {
			buf = make([]byte, sg.n)
		}
		b := buf[:sg.n]
		if _, err := r.spool.f.ReadAt(b, sg.off); err != nil {
			return err
		}
		d := decoder{b: b}
		for range sg.count {
			if d.item(&it, &ch, sg.prefix); d.err != nil {
				return d.err
			}
			if !f(k, &it, &ch) {
				return nil
			}
			k++
		}
	}
	var c chainer
	ch.recs = ch.recs[:0]
	for i := range r.items {
		it := &r.items[i]
		keep := c.to(r.dirs, it.dir)
		ch.recs = ch.recs[:keep]
		for _, x := range c.idx[len(ch.recs):] {
			ch.recs = append(ch.recs, r.dirs[x])
		}
		ch.keep = keep
		if i == 0 {
			ch.keep = 0
		}
		if !f(k, it, &ch) {
			return nil
		}
		k++
	}
	return nil
}

// itemCount is how many items r holds, spooled or not.
func (r *Report) itemCount() int {
	n := len(r.items)
	for _, sg := range r.segs {
		n += int(sg.count)
	}
	return n
}

// loadItems brings every spooled item back into memory (Apply needs
// them at hand), each spooled directory as a new record of r: a root's
// record where a chain starts at one r holds (same name, device and
// inode), else a new root record.
func (r *Report) loadItems() error {
	if len(r.segs) == 0 {
		return nil
	}
	type key struct {
		name     string
		dev, ino uint64
	}
	roots := map[key]int32{}
	for i, d := range r.dirs {
		if d.parent < 0 {
			roots[key{d.name, d.dev, d.ino}] = int32(i)
		}
	}
	dirs := r.dirs
	all := make([]item, 0, r.itemCount())
	var idx []int32
	segs, mem := r.segs, r.items
	r.segs, r.items = segs, nil
	err := r.eachItem(func(_ int, it *item, ch *chain) bool {
		idx = idx[:ch.keep]
		for k := ch.keep; k < len(ch.recs); k++ {
			d := ch.recs[k]
			if k == 0 {
				if x, ok := roots[key{d.name, d.dev, d.ino}]; ok {
					idx = append(idx, x)
					continue
				}
			}
			d.parent = -1
			if k > 0 {
				d.parent = idx[k-1]
			}
			dirs = append(dirs, d)
			idx = append(idx, int32(len(dirs)-1))
		}
		x := *it
		x.dir = idx[len(idx)-1]
		all = append(all, x)
		return true
	})
	if err != nil {
		r.items = mem
		return err
	}
	r.dirs, r.items, r.segs = dirs, append(all, mem...), nil
	return nil
}
