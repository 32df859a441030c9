package rotate

import (
	"fmt"
	"time"

	"github.com/tendkit/tend/units"
)

// decide says whether a log of effective size size, last rotated at last
// (known = the state had an entry), is due for rotation at now.
func decide(r Rule, size int64, last time.Time, known bool, now time.Time, force bool) (bool, string) {
	switch {
	case size == 0 && !r.IfEmpty:
		return false, "empty (if_empty is false)"
	case force:
		return true, "forced"
	case r.Size == 0 && r.Every == 0:
		return true, "no size or every set: every run rotates"
	case r.Size > 0 && size >= r.Size:
		return true, fmt.Sprintf("size %s >= %s", units.Size(size).Human(), units.Size(r.Size).Human())
	}
	if r.Every > 0 {
		if !known {
			return false, "first seen: the every clock starts now"
		}
		if due, why := timeDue(r.Every, last, now); due {
			return true, why
		}
	}
	if r.Size > 0 {
		return false, fmt.Sprintf("not due (size %s < %s)", units.Size(size).Human(), units.Size(r.Size).Human())
	}
	return false, "not due (last rotated " + last.Local().Format(time.DateTime) + ")"
}

// timeDue applies the every trigger. Whole days compare local calendar
// dates (logrotate's daily: the first run after midnight rotates); other
// periods compare elapsed time. A clock that went back more than a day
// also rotates, as logrotate does.
func timeDue(every time.Duration, last, now time.Time) (bool, string) {
	const day = 24 * time.Hour
	why := "every " + units.FormatDuration(every) + ": last rotated " + last.Local().Format(time.DateTime)
	if last.Sub(now) > day+time.Hour {
		return true, "clock went back: last rotated " + last.Local().Format(time.DateTime)
	}
	if every%day == 0 {
		ly, lm, ld := last.Local().Date()
		ny, nm, nd := now.Local().Date()
		l := time.Date(ly, lm, ld, 12, 0, 0, 0, time.UTC)
		n := time.Date(ny, nm, nd, 12, 0, 0, 0, time.UTC)
		return n.Sub(l) >= every, why
	}
	return now.Sub(last) >= every, why
}

// within reports whether the backup of rank (0 = newest) stays when
// keep backups are kept and reserved of them are taken by new ones.
func within(keep, rank, reserved int) bool { return keep < 0 || rank < keep-reserved }

// planRotation lists the steps that rotate the live log at path, given its
// current backups (newest first). exists tells whether a name is taken.
// Numbered backups are renumbered without gaps (a gap left by a killed
// run or a deleted file would make keep retain fewer).
func planRotation(path string, r Rule, bks []backup, now time.Time, size int64, exists func(string) bool) ([]Action, error) {
	codec := r.codec()
	method := r.method()
	var acts []Action
	var first string
	var kept []backup // existing backups that stay, newest first
	compressNow := codec != CompressionNone && !r.DelayCompress

	for _, b := range bks {
		if !within(r.Keep, len(kept), 1) || aged(r, b, now) {
			acts = append(acts, Action{Op: OpDelete, Path: b.path, Bytes: b.size(), Detail: deleteWhy(r, b, now)})
			continue
		}
		kept = append(kept, b)
	}
	if r.DateExt {
		first = datedName(path, now, false, "")
		if takenAny(first, exists) {
			first = datedName(path, now, true, "")
			if takenAny(first, exists) {
				return nil, fmt.Errorf("backup name %s is taken", first)
			}
		}
	} else {
		first = numberedName(path, 1, "")
		acts = append(acts, renumber(path, kept, 2)...)
	}

	switch method {
	case MethodRename:
		acts = append(acts, Action{Op: OpRename, Path: path, To: first, Bytes: size})
		if r.Create != nil {
			acts = append(acts, Action{Op: OpCreate, Path: path, Detail: createDetail(r.Create)})
		}
		if r.Signal != nil {
			acts = append(acts, Action{Op: OpSignal, Path: r.Signal.Pidfile, Detail: signalName(r.Signal)})
		}
	case MethodCopyTruncate:
		to := first
		if compressNow {
			to += codec.Ext()
		}
		acts = append(acts, Action{Op: OpCopy, Path: path, To: to, Bytes: size, Detail: string(codec)},
			Action{Op: OpDrop, Path: path, Bytes: size})
	}
	if r.PostRotate != nil {
		acts = append(acts, Action{Op: OpPostRotate, Path: path, Detail: r.PostRotate.String()})
	}

	if codec != CompressionNone {
		for _, b := range kept {
			if b.ext == "" {
				acts = append(acts, compressAction(b, codec))
			}
		}
		if compressNow && method == MethodRename {
			acts = append(acts, Action{Op: OpCompress, Path: first, To: first + codec.Ext(), Bytes: size, Detail: string(codec)})
		}
	}
	if r.Keep == 0 {
		last := first
		if compressNow {
			last += codec.Ext()
		}
		acts = append(acts, Action{Op: OpDelete, Path: last, Bytes: size, Detail: "keep is 0"})
	}
	return acts, nil
}

func compressAction(b backup, codec Compression) Action {
	return Action{Op: OpCompress, Path: b.path, To: b.path + codec.Ext(), Bytes: b.size(), Detail: string(codec)}
}

// renumber plans the shifts that give the numbered backups kept (newest
// first) the numbers from, from+1 ... without gaps, and updates kept. The
// backups that move down go first, lowest first, then those that move up,
// highest first, so no shift ever meets a taken name.
func renumber(path string, kept []backup, from int) []Action {
	var down, up []Action
	for i := range kept {
		to := from + i
		if kept[i].index == to {
			continue
		}
		a := Action{Op: OpShift, Path: kept[i].path, To: numberedName(path, to, kept[i].ext)}
		if to < kept[i].index {
			a.Detail = "closing a gap in the numbers"
			down = append(down, a)
		} else {
			up = append(up, a)
		}
		kept[i].path, kept[i].index = a.To, to
	}
	for i, j := 0, len(up)-1; i < j; i, j = i+1, j-1 {
		up[i], up[j] = up[j], up[i]
	}
	return append(down, up...)
}

// planUpkeep lists what a run does to a log it does not rotate: deletes
// the backups older than max_age, closes gaps in the numbers, and
// compresses the backups a failed or deferred compression left plain
// (but the newest with delay_compress).
func planUpkeep(path string, r Rule, bks []backup, now time.Time) []Action {
	var acts []Action
	var kept []backup
	for _, b := range bks {
		if aged(r, b, now) {
			acts = append(acts, Action{Op: OpDelete, Path: b.path, Bytes: b.size(), Detail: deleteWhy(r, b, now)})
			continue
		}
		kept = append(kept, b)
	}
	if !r.DateExt {
		acts = append(acts, renumber(path, kept, 1)...)
	}
	if codec := r.codec(); codec != CompressionNone {
		for i, b := range kept {
			if b.ext == "" && (i > 0 || !r.DelayCompress) {
				acts = append(acts, compressAction(b, codec))
			}
		}
	}
	return acts
}

func aged(r Rule, b backup, now time.Time) bool {
	return r.MaxAge > 0 && now.Sub(b.mtime()) > r.MaxAge
}

func deleteWhy(r Rule, b backup, now time.Time) string {
	if aged(r, b, now) {
		return "older than max_age " + units.FormatDuration(r.MaxAge)
	}
	return fmt.Sprintf("beyond keep %d", r.Keep)
}

func takenAny(name string, exists func(string) bool) bool {
	if exists(name) {
		return true
	}
	for _, e := range codecExts {
		if exists(name + e) {
			return true
		}
	}
	return false
}

func createDetail(c *Create) string {
	mode := "mode of the old file"
	if c.Mode != 0 {
		mode = fmt.Sprintf("mode %#o", c.Mode.Perm())
	}
	id := func(what string, n int) string {
		if n < 0 {
			return what + " of the old file"
		}
		return fmt.Sprintf("%s %d", what, n)
	}
	return fmt.Sprintf("%s, %s, %s", mode, id("uid", c.UID), id("gid", c.GID))
}
