package rotate

import (
	"fmt"
	"strings"
)

// Op names one step of a rotation.
type Op string

// The steps a rotation is made of, in the order they run.
const (
	OpDelete     Op = "delete"     // a backup past keep or max_age
	OpShift      Op = "shift"      // log.1 -> log.2 ...
	OpRename     Op = "rename"     // the live log -> its first backup
	OpCreate     Op = "create"     // a new empty live log
	OpSignal     Op = "signal"     // tell the writer to reopen
	OpCopy       Op = "copy"       // copytruncate: copy the live log to its backup
	OpDrop       Op = "drop"       // copytruncate: drop the copied range
	OpPostRotate Op = "postrotate" // the rule's postrotate command
	OpCompress   Op = "compress"   // a backup -> backup.gz / .zst
)

// Action is one step of a rotation: planned in a dry run, done (or failed,
// with Error set) in a real run.
type Action struct {
	Op   Op     `json:"op"`
	Path string `json:"path"`
	To   string `json:"to,omitempty"`
	// Bytes is the data involved: the size of a deleted or compressed
	// backup, the bytes copied and dropped.
	Bytes int64 `json:"bytes,omitempty"`
	// Compressed is the size written by a compression (or a compressed
	// copy): the bytes on disk after it.
	Compressed int64 `json:"compressed_bytes,omitempty"`
	// Detail says how: the drop strategy, the signal and pid ...
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// FileReport is what happened (or would happen) to one live log.
type FileReport struct {
	Path string `json:"path"`
	// Rotate says whether the log is (or was) rotated; Reason says why or
	// why not ("size 120MiB >= 100MiB", "not due", "empty").
	Rotate  bool     `json:"rotate"`
	Reason  string   `json:"reason"`
	Method  Method   `json:"method,omitempty"`
	Actions []Action `json:"actions,omitempty"`
	// Error is set when the log could not be looked at or rotated.
	Error string `json:"error,omitempty"`
	// StuckWriter is set when the log's writer still writes to its newest
	// backup (a rename it never followed: the live log stays empty while
	// the backup grows): who, since when, and what to do.
	StuckWriter string `json:"stuck_writer,omitempty"`
}

// Report is a Rotator's plan (DryRun) or the account of a real run, in the
// same shape.
type Report struct {
	DryRun bool         `json:"dry_run"`
	Files  []FileReport `json:"files"`
	// Error is set when the run as a whole failed (its state could not
	// be locked, read or written): nothing was rotated, or what was is
	// not recorded.
	Error string `json:"error,omitempty"`
}

// failed reports whether the log or one of its steps failed.
func (f FileReport) failed() bool { return f.firstError() != "" }

// firstError returns the log's error, or its first failed step's.
func (f FileReport) firstError() string {
	if f.Error != "" {
		return f.Error
	}
	for _, a := range f.Actions {
		if a.Error != "" {
			return string(a.Op) + " " + a.Path + ": " + a.Error
		}
	}
	return ""
}

// Failures counts the logs that failed (the log or one of its steps),
// plus one when the run as a whole failed.
func (r *Report) Failures() int {
	n := 0
	if r.Error != "" {
		n++
	}
	for _, f := range r.Files {
		if f.failed() {
			n++
		}
	}
	return n
}

// CompressedBytes sums the bytes written by compressions and compressed
// copies: what the compressed backups take on disk.
func (r *Report) CompressedBytes() int64 {
	var n int64
	for _, f := range r.Files {
		for _, a := range f.Actions {
			if a.Error == "" && (a.Op == OpCompress || a.Op == OpCopy) {
				n += a.Compressed
			}
		}
	}
	return n
}

// Rotations counts the logs rotated (or planned to be).
func (r *Report) Rotations() int {
	n := 0
	for _, f := range r.Files {
		if f.Rotate && f.Error == "" {
			n++
		}
	}
	return n
}

// BytesCompressed sums the uncompressed bytes of compressed backups
// (compressions and compressed copies).
func (r *Report) BytesCompressed() int64 {
	var n int64
	for _, f := range r.Files {
		for _, a := range f.Actions {
			if a.Error == "" && (a.Op == OpCompress || a.Op == OpCopy && a.Compressed > 0) {
				n += a.Bytes
			}
		}
	}
	return n
}

// StuckWriters counts the logs whose writer was found writing to a
// rotated file instead of the live log.
func (r *Report) StuckWriters() int {
	n := 0
	for _, f := range r.Files {
		if f.StuckWriter != "" {
			n++
		}
	}
	return n
}

// Deleted counts the backups deleted.
func (r *Report) Deleted() int { return int(r.sum(OpDelete, false)) }

// Errors counts the logs and steps that failed.
func (r *Report) Errors() int {
	n := 0
	if r.Error != "" {
		n++
	}
	for _, f := range r.Files {
		if f.Error != "" {
			n++
		}
		for _, a := range f.Actions {
			if a.Error != "" {
				n++
			}
		}
	}
	return n
}

func (r *Report) sum(op Op, bytes bool) int64 {
	var n int64
	for _, f := range r.Files {
		for _, a := range f.Actions {
			if a.Op != op || a.Error != "" {
				continue
			}
			if bytes {
				n += a.Bytes
			} else {
				n++
			}
		}
	}
	return n
}

// Lines renders the report for people, one line per log and step.
func (r *Report) Lines() []string {
	var out []string
	verb := ""
	if r.DryRun {
		verb = "would "
	}
	if r.Error != "" {
		out = append(out, "error: "+r.Error)
	}
	for _, f := range r.Files {
		switch {
		case f.Error != "":
			out = append(out, fmt.Sprintf("%s: error: %s", f.Path, f.Error))
		case f.Rotate:
			out = append(out, fmt.Sprintf("%s: %srotate (%s, %s)", f.Path, verb, f.Reason, f.Method))
		default:
			out = append(out, fmt.Sprintf("%s: kept (%s)", f.Path, f.Reason))
		}
		if f.StuckWriter != "" {
			out = append(out, "  warning: "+f.StuckWriter)
		}
		for _, a := range f.Actions {
			var b strings.Builder
			fmt.Fprintf(&b, "  %s%s %s", verb, a.Op, a.Path)
			if a.To != "" {
				fmt.Fprintf(&b, " -> %s", a.To)
			}
			if a.Detail != "" {
				fmt.Fprintf(&b, " (%s)", a.Detail)
			}
			if a.Error != "" {
				fmt.Fprintf(&b, ": error: %s", a.Error)
			}
			out = append(out, b.String())
		}
	}
	return out
}
