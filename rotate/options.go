package rotate

import (
	"fmt"
	"os"
	"time"
)

// Method is how a Rotator takes the current contents away from a live log.
type Method string

const (
	// Rename moves the live file to its backup name, creates a new empty
	// file in its place and signals the writer to reopen it.
	Rename Method = "rename"
	// CopyTruncate copies the live file to its backup and then drops the
	// copied range from the live file with fallocate (collapse-range or
	// punch-hole), so lines written during the copy stay.
	CopyTruncate Method = "copytruncate"
)

// Compression names the codec used for backups.
type Compression string

const (
	// NoCompression keeps backups as plain files.
	NoCompression Compression = "none"
	// Gzip writes .gz files with github.com/klauspost/compress/gzip.
	Gzip Compression = "gzip"
	// Zstd writes .zst files with a single-threaded zstd encoder.
	Zstd Compression = "zstd"
)

// Ext returns the file name suffix of the codec: ".gz", ".zst" or "".
func (c Compression) Ext() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

func (c Compression) valid() bool {
	switch c {
	case "", NoCompression, Gzip, Zstd:
		return true
	}
	return false
}

// Rule says which log files are rotated, when, and how. Its fields map 1:1
// to one item of the config file's rotate.files list.
type Rule struct {
	// Path is a file name or a glob (path.Match syntax) of live logs.
	Path string `json:"path"`
	// Size rotates a log once it holds at least this many bytes (0 = no
	// size trigger).
	Size int64 `json:"size,omitempty"`
	// Every rotates a log once this much time has passed since its last
	// rotation (0 = no time trigger). Whole days compare calendar dates in
	// local time, as logrotate's daily does: a daily log rotates on the
	// first run after midnight. With both Size and Every set, either one
	// triggers; with neither, every run rotates (as logrotate -f).
	Every time.Duration `json:"every,omitempty"`
	// Keep is how many backups are kept; older ones are deleted.
	Keep int `json:"keep"`
	// MaxAge deletes backups last written longer ago than this (0 = none).
	MaxAge time.Duration `json:"max_age,omitempty"`
	// Compress is the codec of backups ("" = none).
	Compress Compression `json:"compress,omitempty"`
	// DelayCompress leaves the newest backup uncompressed until the next
	// rotation, for writers that keep writing to it for a while.
	DelayCompress bool `json:"delay_compress,omitempty"`
	// DateExt names backups log-YYYYMMDD instead of log.1, log.2 ...
	DateExt bool `json:"date_ext,omitempty"`
	// Method is Rename (default) or CopyTruncate.
	Method Method `json:"method,omitempty"`
	// MissingOK makes a missing log (or a glob matching nothing) silent
	// instead of an error.
	MissingOK bool `json:"missing_ok,omitempty"`
	// IfEmpty rotates empty logs too (logrotate's ifempty); false is
	// logrotate's notifempty.
	IfEmpty bool `json:"if_empty,omitempty"`
	// Create, when set, makes a new empty live log after a Rename, with
	// Create's mode and owner (a zero Mode or an id of -1 takes the rotated
	// file's). Nil creates none, as logrotate's nocreate: the writer makes
	// the file when it reopens.
	Create *Create `json:"create,omitempty"`
	// Signal names the writer told to reopen its log after a Rename.
	Signal *Signal `json:"signal,omitempty"`
}

// Create is the mode and owner of a new log file. A UID or GID of -1 keeps
// the rotated file's.
type Create struct {
	Mode os.FileMode `json:"mode"`
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
}

// Signal is the process to tell, after a Rename, to reopen its log.
type Signal struct {
	// Pidfile holds the process id as decimal text.
	Pidfile string `json:"pidfile"`
	// Signal is sent to the process (0 = SIGHUP).
	Signal os.Signal `json:"-"`
}

func (r Rule) method() Method {
	if r.Method == "" {
		return Rename
	}
	return r.Method
}

func (r Rule) codec() Compression {
	if r.Compress == "" {
		return NoCompression
	}
	return r.Compress
}

// validate is Validate with the rule's path named first.
func (r Rule) validate() error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("rule %s: %w", r.Path, err)
	}
	return nil
}
