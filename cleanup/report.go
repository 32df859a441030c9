package cleanup

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Reason says why an item is deleted.
type Reason uint8

// Reasons for deleting.
const (
	ReasonAge        Reason = iota // older than the rule's threshold
	ReasonEmpty                    // a directory left empty (and old)
	ReasonBudget                   // least recently used over keep_under
	ReasonRevision                 // part of an old Hugging Face revision
	ReasonIncomplete               // a stale partial Hugging Face download
	ReasonEntry                    // part of an old entry (LayoutEntries)
)

var reasonNames = [...]string{"age", "empty", "budget", "revision", "incomplete", "entry"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// MarshalText prints the reason's name.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a reason's name.
func (r *Reason) UnmarshalText(b []byte) error {
	for i, n := range reasonNames {
		if n == string(b) {
			*r = Reason(i)
			return nil
		}
	}
	return fmt.Errorf("unknown reason %q", b)
}

// SkipReason is why an entry old enough to go was kept, as counted in
// Report.Skipped.
type SkipReason string

// Skip reasons counted in Report.Skipped.
const (
	SkipReasonOpen      SkipReason = "open"      // a file some process holds open or mapped
	SkipReasonLocked    SkipReason = "locked"    // a file or directory holding a flock/POSIX lock
	SkipReasonProtected SkipReason = "protected" // under a protected path
	SkipReasonSymlink   SkipReason = "symlink"   // a symlink kept (never followed)
	SkipReasonMount     SkipReason = "mount"     // a mount point (never crossed)
	SkipReasonCap       SkipReason = "cap"       // over max_deletions for this run
	SkipReasonSpecial   SkipReason = "special"   // a socket, FIFO or device
	SkipReasonExcluded  SkipReason = "excluded"  // matched an exclude glob
	SkipReasonChanged   SkipReason = "changed"   // changed or used between plan and deletion
	SkipReasonNotEmpty  SkipReason = "not_empty" // a directory that gained entries
	SkipReasonTooDeep   SkipReason = "too_deep"  // a directory nested deeper than MaxDepth
	// SkipReasonNotPermitted: an old entry this process may not remove (another
	// user's file in a sticky directory, a directory it cannot write); it
	// is also named in the errors, wrapping syscall.EPERM.
	SkipReasonNotPermitted SkipReason = "not_permitted"
	SkipReasonHeldRev      SkipReason = "held_revision"
)

// Item is one planned or done deletion.
type Item struct {
	Path string `json:"path"`
	Type Type   `json:"type"`
	// Bytes is what the deletion frees: a file's size, but for a file
	// with several names (hard links), whose size counts on the name
	// removed last in the run and 0 on the others (a name left behind
	// frees nothing).
	Bytes  int64     `json:"bytes"`
	Reason Reason    `json:"reason"`
	Used   time.Time `json:"used"` // the timestamp that aged it
}

// RootReport is what happened under one rule's root.
type RootReport struct {
	Root    string   `json:"root"`
	Age     AgeBasis `json:"age"`
	Scanned int      `json:"scanned"`
	Deleted int      `json:"deleted"`
	Bytes   int64    `json:"bytes"`
	// FreeBefore and FreeAfter are the file system's free bytes measured
	// before the plan and after the deletions (-1 when unknown).
	FreeBefore int64  `json:"free_before"`
	FreeAfter  int64  `json:"free_after"`
	Missing    bool   `json:"missing,omitempty"`
	Note       string `json:"note,omitempty"`
	// HeldBytes, HeldSize and HeldFiles are what the regular files under
	// the root held when the walk described them: bytes allocated on disk
	// (st_blocks), each inode once; their apparent size; how many. LastUse
	// is the newest use of them by the rule's Age. A rule with Within counts
	// the files inside its directories only (the others are never
	// described).
	HeldBytes int64     `json:"held_bytes"`
	HeldSize  int64     `json:"held_size"`
	HeldFiles int64     `json:"held_files"`
	LastUse   time.Time `json:"last_use,omitzero"`
	// Entries is the usage of each entry of the root, largest first
	// (Sweeper.Usage, in a plan).
	Entries []EntryUsage `json:"entries,omitempty"`
	dev     uint64
}

// Report is a plan (DryRun) or the outcome of a sweep, in the same shape:
// the ordered items (planned, or actually deleted), counts, bytes, skipped
// entries by reason and the errors met. Items are ordered depth first with
// names sorted, a directory's files before its subdirectories and the
// directory itself after its contents; budget deletions (least recently
// used first) follow the age deletions of their root.
type Report struct {
	DryRun   bool         `json:"dry_run"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Roots    []RootReport `json:"roots"`
	Scanned  int          `json:"scanned"`
	Deleted  int          `json:"deleted"`
	Bytes    int64        `json:"bytes"`
	// FreedMeasured is the growth of free space summed over the file
	// systems swept (real runs only; other writers make it approximate).
	FreedMeasured int64 `json:"freed_measured"`
	// ItemsOmitted counts deletions a real sweep did not list in Items
	// (see Sweeper.ReportItems); the log has every one.
	ItemsOmitted int                `json:"items_omitted,omitempty"`
	Skipped      map[SkipReason]int `json:"skipped"`
	Notes        []string           `json:"notes,omitempty"`
	// Errors are the problems met (also returned as a *multierror.Error).
	Errors []string `json:"errors,omitempty"`

	dirs []dirRec
	// segs are the items spilled to spool (see spool.go); items are the
	// ones after them, still in memory.
	segs  []segment
	spool *spool
	items []item
	done  []bool // Apply: which items were deleted
}

// dirRec is one directory seen by the plan.
type dirRec struct {
	parent int32 // -1 for a root
	root   int32 // index into Roots
	name   string
	dev    uint64
	ino    uint64
}

// item is the compact form of an Item.
type item struct {
	dir  int32
	typ  Type
	why  Reason
	name string
	size int64
	ino  uint64
	used int64 // UnixNano of the aging timestamp at plan time
}

func (r *Report) skip(reason SkipReason) {
	if r.Skipped == nil {
		r.Skipped = map[SkipReason]int{}
	}
	r.Skipped[reason]++
}

// dirPath returns the absolute path of directory i.
func (r *Report) dirPath(i int32) string {
	var pb pathBuilder
	return string(pb.dir(&chain{recs: chainOf(nil, r.dirs, i)}))
}

func (r *Report) itemPath(it *item) string {
	var pb pathBuilder
	return string(pb.item(&chain{recs: chainOf(nil, r.dirs, it.dir)}, it.name))
}

// pathBuilder builds the paths of a report's items one after another,
// reusing the part shared with the previous one (the chain's keep): items
// come depth first, so a path costs only the levels it does not share
// with the one before. It must see every item's chain in order.
type pathBuilder struct {
	lens []int // buf[:lens[k]] is the path of the chain's level k
	buf  []byte
}

// dir returns the path of ch's directory, valid until the next call.
func (pb *pathBuilder) dir(ch *chain) []byte {
	k := min(ch.keep, len(pb.lens))
	pb.lens = pb.lens[:k]
	if k == 0 {
		pb.buf = pb.buf[:0]
	} else {
		pb.buf = pb.buf[:pb.lens[k-1]]
	}
	for ; k < len(ch.recs); k++ {
		if k > 0 && (len(pb.buf) == 0 || pb.buf[len(pb.buf)-1] != '/') {
			pb.buf = append(pb.buf, '/')
		}
		pb.buf = append(pb.buf, ch.recs[k].name...)
		pb.lens = append(pb.lens, len(pb.buf))
	}
	return pb.buf
}

// item returns the path of the entry name in ch's directory, valid until
// the next call.
func (pb *pathBuilder) item(ch *chain, name string) []byte {
	d := pb.dir(ch)
	n := len(d)
	if n == 0 || d[n-1] != '/' {
		d = append(d, '/')
	}
	d = append(d, name...)
	pb.buf = d[:n] // keep the directory's path; d's tail is scratch
	return d
}

// AllItems yields the planned (dry run) or deleted items, in order. Each
// path is built as it is yielded, from the one before, so printing a plan
// holds one path at a time however long the plan is.
func (r *Report) AllItems() iter.Seq[Item] {
	return func(yield func(Item) bool) {
		var pb pathBuilder
		err := r.eachItem(func(i int, it *item, ch *chain) bool {
			p := pb.item(ch, it.name)
			if r.done != nil && !r.done[i] {
				return true
			}
			return yield(Item{Path: string(p), Type: it.typ, Bytes: it.size, Reason: it.why, Used: time.Unix(0, it.used)})
		})
		if err != nil {
			// The spool is gone (the temporary file system failed under
			// it): say so where the items would be.
			yield(Item{Path: "(plan items lost: " + err.Error() + ")", Type: TypeOther})
		}
	}
}

// Items returns every planned or deleted item, in order, each with its
// whole path: for small reports and tests. AllItems and WriteJSON stream.
func (r *Report) Items() []Item { return slices.Collect(r.AllItems()) }

// MarshalJSON includes the items; WriteJSON writes the same document
// without building it in memory.
func (r *Report) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// WriteJSON writes the report as one JSON object, its items streamed one
// by one with a json.Encoder, so memory does not grow with the plan.
func (r *Report) WriteJSON(w io.Writer) error {
	type plain Report
	head, err := json.Marshal((*plain)(r))
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"items":[`)
	enc := json.NewEncoder(bw)
	first := true
	for it := range r.AllItems() {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// MarshalJSON writes the item with its path losslessly: a path that is
// not valid UTF-8 (JSON strings cannot hold such bytes) is written as the
// text output quotes it (strconv.Quote: "bad\xff" with its quotes) and its
// exact bytes follow, base64-encoded, in path_b64.
func (it Item) MarshalJSON() ([]byte, error) {
	type plain Item
	v := struct {
		plain
		PathB64 []byte `json:"path_b64,omitempty"`
	}{plain: plain(it)}
	if !utf8.ValidString(it.Path) {
		v.Path = strconv.Quote(it.Path)
		v.PathB64 = []byte(it.Path)
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes, restoring the exact bytes.
func (it *Item) UnmarshalJSON(b []byte) error {
	type plain Item
	var v struct {
		plain
		PathB64 []byte `json:"path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*it = Item(v.plain)
	if v.PathB64 != nil {
		it.Path = string(v.PathB64)
	}
	return nil
}

// pathAttrs are the log attributes naming path losslessly, as Item's JSON.
func pathAttrs(path string) []slog.Attr {
	if utf8.ValidString(path) {
		return []slog.Attr{slog.String("path", path)}
	}
	return []slog.Attr{slog.String("path", strconv.Quote(path)),
		slog.String("path_b64", base64.StdEncoding.EncodeToString([]byte(path)))}
}
