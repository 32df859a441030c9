package cleanup

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EntryUsage is what one entry of a root holds and what the plan would free
// of it (see Sweeper.Usage). An entry is a child directory of the root: a
// repository (models--ORG--NAME, datasets--...) in a Hugging Face hub, a
// kernel hash in a compile cache, a project under a home; the files lying
// directly in the root make the entry ".". An entry holding no file and
// nothing planned is left out.
type EntryUsage struct {
	Name string `json:"name"`
	// Bytes is what its regular files allocate on disk (st_blocks), each
	// inode once under the root; Size is their apparent size.
	Bytes int64 `json:"bytes"`
	Size  int64 `json:"size"`
	Files int64 `json:"files"`
	// LastUse is the newest use of its files by the rule's Age.
	LastUse time.Time `json:"last_use,omitzero"`
	// PlannedBytes and PlannedItems are what the plan deletes in it
	// (bytes as Report.Bytes counts them: apparent sizes).
	PlannedBytes int64 `json:"planned_bytes"`
	PlannedItems int64 `json:"planned_items"`
}

// usageAcc adds up what one root's regular files hold, as the walk
// describes them, in total and (Sweeper.Usage) per entry. It is shared by
// the forks of the root's walk: the sums are atomic and the maps locked,
// so memory follows the entries and the files with several names, not the
// files.
type usageAcc struct {
	total entryAcc
	mu    sync.Mutex
	// linked holds the inodes with several names already counted, with
	// the entry they count in (nil without per-entry usage) and how many
	// of their names are still to be met: an inode is forgotten once all
	// are, so memory follows the linked files whose names are not all
	// under the root (or not all walked yet).
	linked map[uint64]*linkSeen
	// entries is nil when no per-entry usage is asked for.
	entries map[string]*entryAcc
}

type linkSeen struct {
	e    *entryAcc
	left uint64
}

type entryAcc struct {
	name                     string
	bytes, size, files, last atomic.Int64
	planned, items           int64 // filled after the plan, by one goroutine
}

func newUsageAcc(perEntry bool) *usageAcc {
	a := &usageAcc{}
	if perEntry {
		a.entries = map[string]*entryAcc{}
	}
	return a
}

// entry returns the accumulator of the entry name (nil without per-entry
// usage).
func (a *usageAcc) entry(name string) *entryAcc {
	if a.entries == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entries[name]
	if e == nil {
		e = &entryAcc{name: name}
		a.entries[name] = e
	}
	return e
}

// file counts the regular file info, last used at used (UnixNano), in
// the total and in e (when not nil). A file with several names counts
// once, in the first of their entries by name (whatever the order the
// walk meets them in); every entry holding a name takes its use.
func (a *usageAcc) file(e *entryAcc, info Info, used int64) {
	if info.Nlink > 1 {
		a.mu.Lock()
		if a.linked == nil {
			a.linked = map[uint64]*linkSeen{}
		}
		ls, seen := a.linked[info.Ino]
		var was *entryAcc
		switch {
		case !seen:
			a.linked[info.Ino] = &linkSeen{e: e, left: info.Nlink - 1}
		default:
			was = ls.e
			if e != nil && e.name < was.name {
				ls.e = e
			}
			if ls.left--; ls.left == 0 {
				delete(a.linked, info.Ino)
			}
		}
		a.mu.Unlock()
		if seen {
			if e != nil && e.name < was.name {
				was.bytes.Add(-info.Blocks * 512)
				was.size.Add(-info.Size)
				was.files.Add(-1)
				e.add(info, used)
			} else if e != nil {
				e.used(used)
			}
			return
		}
	}
	a.total.add(info, used)
	if e != nil {
		e.add(info, used)
	}
}

func (e *entryAcc) add(info Info, used int64) {
	e.bytes.Add(info.Blocks * 512)
	e.size.Add(info.Size)
	e.files.Add(1)
	e.used(used)
}

// used makes e's last use at least t.
func (e *entryAcc) used(t int64) {
	for {
		l := e.last.Load()
		if t <= l || e.last.CompareAndSwap(l, t) {
			return
		}
	}
}

func unixNanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// report writes the sums into rr; the entries' planned bytes are added by
// planner.plannedUsage.
func (a *usageAcc) report(rr *RootReport) {
	rr.HeldBytes, rr.HeldSize, rr.HeldFiles = a.total.bytes.Load(), a.total.size.Load(), a.total.files.Load()
	rr.LastUse = unixNanoTime(a.total.last.Load())
}

// entryOf returns the name of the entry holding it, whose directories
// from the root down are ch: the child directory of its root it is in or
// is, "." for a file lying in the root itself.
func entryOf(it *item, ch *chain) string {
	if len(ch.recs) > 1 {
		return ch.recs[1].name
	}
	if it.typ == TypeDir {
		return it.name
	}
	return "."
}

// plannedUsage adds the plan's items to their entries and fills each
// root's Entries, largest first.
func (p *planner) plannedUsage() {
	if len(p.uses) == 0 {
		return
	}
	err := p.rep.eachItem(func(_ int, it *item, ch *chain) bool {
		if len(ch.recs) == 0 {
			return true
		}
		a := p.uses[ch.recs[0].root]
		if a == nil {
			return true
		}
		e := a.entry(entryOf(it, ch))
		e.planned += it.size
		e.items++
		return true
	})
	if err != nil {
		p.errs = errAppend(p.errs, err)
	}
	for ri, a := range p.uses {
		rr := &p.rep.Roots[ri]
		rr.Entries = make([]EntryUsage, 0, len(a.entries))
		for name, e := range a.entries {
			if e.files.Load() == 0 && e.items == 0 {
				continue // nothing in it (for a Within rule: nothing inside its directories)
			}
			rr.Entries = append(rr.Entries, EntryUsage{Name: name, Bytes: e.bytes.Load(), Size: e.size.Load(), Files: e.files.Load(),
				LastUse: unixNanoTime(e.last.Load()), PlannedBytes: e.planned, PlannedItems: e.items})
		}
		slices.SortFunc(rr.Entries, func(x, y EntryUsage) int {
			if c := cmp.Compare(y.Bytes, x.Bytes); c != 0 {
				return c
			}
			return strings.Compare(x.Name, y.Name)
		})
	}
}

// topEntry is the entry of a hub entry name in the directory rel below
// the root (see EntryUsage).
func topEntry(rel, name string, dir bool) string {
	switch {
	case rel != "":
		top, _, _ := strings.Cut(rel, "/")
		return top
	case dir:
		return name
	}
	return "."
}

// newUsage returns the usage sums of root ri, per entry when a plan asks
// for them (Sweeper.Usage).
func (p *planner) newUsage(ri int32) *usageAcc {
	a := newUsageAcc(p.s.Usage && !p.live)
	if a.entries != nil {
		if p.uses == nil {
			p.uses = map[int32]*usageAcc{}
		}
		p.uses[ri] = a
	}
	return a
}
