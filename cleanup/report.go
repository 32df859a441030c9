package cleanup

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
)

var reasonNames = [...]string{"age", "empty", "budget", "revision", "incomplete"}

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

// Skip reasons counted in Report.Skipped.
const (
	SkipOpen      = "open"      // a file some process holds open or mapped
	SkipLocked    = "locked"    // a file or directory holding a flock/POSIX lock
	SkipProtected = "protected" // under a protected path
	SkipSymlink   = "symlink"   // a symlink kept (never followed)
	SkipMount     = "mount"     // a mount point (never crossed)
	SkipCap       = "cap"       // over max_deletions for this run
	SkipSpecial   = "special"   // a socket, FIFO or device
	SkipExcluded  = "excluded"  // matched an exclude glob
	SkipChanged   = "changed"   // changed or used between plan and deletion
	SkipNotEmpty  = "not_empty" // a directory that gained entries
	SkipTooDeep   = "too_deep"  // a directory nested deeper than MaxDepth
	// SkipNotPermitted: an old entry this process may not remove (another
	// user's file in a sticky directory, a directory it cannot write); it
	// is also named in the errors, wrapping syscall.EPERM.
	SkipNotPermitted = "not_permitted"
	SkipHeldRev      = "held_revision"
)

// Item is one planned or done deletion.
type Item struct {
	Path   string    `json:"path"`
	Type   Type      `json:"type"`
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
	dev        uint64
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
	ItemsOmitted int            `json:"items_omitted,omitempty"`
	Skipped      map[string]int `json:"skipped"`
	Notes        []string       `json:"notes,omitempty"`
	// Errors are the problems met (also returned as a *multierror.Error).
	Errors []string `json:"errors,omitempty"`

	dirs  []dirRec
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

func (r *Report) skip(reason string) {
	if r.Skipped == nil {
		r.Skipped = map[string]int{}
	}
	r.Skipped[reason]++
}

// dirPath returns the absolute path of directory i.
func (r *Report) dirPath(i int32) string {
	var parts []string
	for ; i >= 0; i = r.dirs[i].parent {
		parts = append(parts, r.dirs[i].name)
	}
	var b strings.Builder
	for j := len(parts) - 1; j >= 0; j-- {
		if j != len(parts)-1 && !strings.HasSuffix(b.String(), "/") {
			b.WriteByte('/')
		}
		b.WriteString(parts[j])
	}
	return b.String()
}

func (r *Report) itemPath(it *item) string {
	p := r.dirPath(it.dir)
	if strings.HasSuffix(p, "/") {
		return p + it.name
	}
	return p + "/" + it.name
}

// Items returns the planned (dry run) or deleted items, in order.
func (r *Report) Items() []Item {
	out := make([]Item, 0, len(r.items))
	var lastDir int32 = -2
	var lastPath string
	for i := range r.items {
		if r.done != nil && !r.done[i] {
			continue
		}
		it := &r.items[i]
		if it.dir != lastDir {
			lastDir, lastPath = it.dir, r.dirPath(it.dir)
			if !strings.HasSuffix(lastPath, "/") {
				lastPath += "/"
			}
		}
		out = append(out, Item{Path: lastPath + it.name, Type: it.typ, Bytes: it.size, Reason: it.why, Used: time.Unix(0, it.used)})
	}
	return out
}

// MarshalJSON includes the items.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		*plain
		Items []Item `json:"items"`
	}{(*plain)(r), r.Items()})
}
