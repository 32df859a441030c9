package rotate

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Method is how a Rotator takes the current contents away from a live log.
type Method string

const (
	// MethodRename moves the live file to its backup name, creates a new empty
	// file in its place and signals the writer to reopen it.
	MethodRename Method = "rename"
	// MethodCopyTruncate copies the live file to its backup and then drops the
	// copied range from the live file with fallocate (collapse-range or
	// punch-hole), so lines written during the copy stay.
	MethodCopyTruncate Method = "copytruncate"
)

// Compression names the codec used for backups.
type Compression string

const (
	// CompressionNone keeps backups as plain files.
	CompressionNone Compression = "none"
	// CompressionGzip writes .gz files with github.com/klauspost/compress/gzip.
	CompressionGzip Compression = "gzip"
	// CompressionZstd writes .zst files with a single-threaded zstd encoder.
	CompressionZstd Compression = "zstd"
)

// Ext returns the file name suffix of the codec: ".gz", ".zst" or "".
func (c Compression) Ext() string {
	switch c {
	case CompressionGzip:
		return ".gz"
	case CompressionZstd:
		return ".zst"
	}
	return ""
}

func (c Compression) valid() bool {
	switch c {
	case "", CompressionNone, CompressionGzip, CompressionZstd:
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
	// Keep is how many backups are kept, newest first; older ones are
	// deleted. 0 keeps none (logrotate's rotate 0), KeepAll (-1) every
	// one; Writer.MaxBackups means the same. Config files that leave keep
	// out get DefaultKeep.
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
	// Method is MethodRename (default) or MethodCopyTruncate.
	Method Method `json:"method,omitempty"`
	// MissingOK makes a missing log (or a glob matching nothing) silent
	// instead of an error.
	MissingOK bool `json:"missing_ok,omitempty"`
	// IfEmpty rotates empty logs too (logrotate's ifempty); false is
	// logrotate's notifempty.
	IfEmpty bool `json:"if_empty,omitempty"`
	// Create, when set, makes a new empty live log after a MethodRename, with
	// Create's mode and owner (a zero Mode or an id of -1 takes the rotated
	// file's). Nil creates none, as logrotate's nocreate: the writer makes
	// the file when it reopens.
	Create *Create `json:"create,omitempty"`
	// Signal names the writer told to reopen its log after a rename.
	Signal *Signal `json:"signal,omitempty"`
	// PostRotate runs a command after each rotation of a log (after the
	// signal, before the compression), as logrotate's postrotate.
	PostRotate *Command `json:"postrotate,omitempty"`
}

// DefaultPostRotateTimeout bounds a PostRotate command without a Timeout.
const DefaultPostRotateTimeout = time.Minute

// Command is a program run with its arguments, no shell. It runs in its
// own process group, killed as a whole when Timeout (0 =
// DefaultPostRotateTimeout) passes or the run is cancelled. Its
// environment adds TEND_LOG (the live log) and TEND_BACKUP (the new
// backup); a non-zero exit is a failed step.
type Command struct {
	Argv    []string      `json:"argv"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

func (c *Command) String() string { return strings.Join(c.Argv, " ") }

// Create is the mode and owner of a new log file. A UID or GID of -1 keeps
// the rotated file's.
type Create struct {
	Mode os.FileMode `json:"mode"`
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
}

// Signal is the process to tell, after a MethodRename, to reopen its log.
type Signal struct {
	// Pidfile holds the process id as decimal text.
	Pidfile string `json:"pidfile"`
	// Signal is sent to the process (0 = SIGHUP).
	Signal os.Signal `json:"-"`
}

func (r Rule) method() Method {
	if r.Method == "" {
		return MethodRename
	}
	return r.Method
}

func (r Rule) codec() Compression {
	if r.Compress == "" {
		return CompressionNone
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
