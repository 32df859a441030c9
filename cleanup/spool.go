package cleanup

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// A plan's items can outnumber what memory should hold (a dry run over a
// million files), so a planner keeps only its latest items in memory and
// spills the rest, in order, to a spool: one unnamed temporary file per
// sweep (O_TMPFILE: no name appears in any directory, not even in a /tmp
// being swept), shared by every part of a parallel walk. Each part writes
// its own segments in its own coordinates; join records, once, how a
// segment's directory indices translate into the whole's.

// spillAt is how many items a planner holds before it spills them.
const spillAt = 4096

// spool is the shared temporary file, created at the first write.
type spool struct {
	mu     sync.Mutex
	f      *os.File
	size   int64
	err    error
	opened bool
}

// segment is a run of items in the spool, in a planner's coordinates:
// directory x is di when x is 0, else base+x-1 (see xlat).
type segment struct {
	off   int64
	n     int32 // bytes
	count int32
	tr    xlat
}

// xlat translates a part's directory index into its parent's: the part's
// directory 0 is di, its directory x > 0 is base+x-1. The identity is
// {0, 1}; translations compose into the same form.
type xlat struct{ di, base int32 }

var identity0 = xlat{di: 0, base: 1}

func (t xlat) apply(x int32) int32 {
	if x == 0 {
		return t.di
	}
	return t.base + x - 1
}

// then is t followed by u (a part of a part joined twice).
func (t xlat) then(u xlat) xlat { return xlat{di: u.apply(t.di), base: u.base + t.base - 1} }

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

// encodeItems appends the encoding of items to b.
func encodeItems(b []byte, items []item) []byte {
	for i := range items {
		it := &items[i]
		b = binary.AppendVarint(b, int64(it.dir))
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

// decodeItem reads one item from b, returning the rest.
func decodeItem(b []byte, it *item) ([]byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 || len(b) < n+3 {
		return nil, errSpool
	}
	it.dir = int32(v)
	b = b[n:]
	it.typ, it.why = Type(b[0]), Reason(b[1])
	b = b[2:]
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return nil, errSpool
	}
	it.name = string(b[n : n+int(l)])
	b = b[n+int(l):]
	if it.size, n = binary.Varint(b); n <= 0 {
		return nil, errSpool
	}
	b = b[n:]
	if it.ino, n = binary.Uvarint(b); n <= 0 {
		return nil, errSpool
	}
	b = b[n:]
	if it.used, n = binary.Varint(b); n <= 0 {
		return nil, errSpool
	}
	return b[n:], nil
}

// eachItem calls f with every item of r in order, spooled ones first, with
// directory indices in r's coordinates; it stops when f returns false.
func (r *Report) eachItem(f func(i int, it *item) bool) error {
	k := 0
	var buf []byte
	for _, sg := range r.segs {
		if cap(buf) < int(sg.n) {
			buf = make([]byte, sg.n)
		}
		b := buf[:sg.n]
		if _, err := r.spool.f.ReadAt(b, sg.off); err != nil {
			return err
		}
		var it item
		for range sg.count {
			var err error
			if b, err = decodeItem(b, &it); err != nil {
				return err
			}
			it.dir = sg.tr.apply(it.dir)
			if !f(k, &it) {
				return nil
			}
			k++
		}
	}
	for i := range r.items {
		if !f(k, &r.items[i]) {
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
// them at hand).
func (r *Report) loadItems() error {
	if len(r.segs) == 0 {
		return nil
	}
	all := make([]item, 0, r.itemCount())
	err := r.eachItem(func(_ int, it *item) bool { all = append(all, *it); return true })
	if err != nil {
		return err
	}
	r.items, r.segs = all, nil
	return nil
}
