package procfs

import (
	"bytes"
	"io"
	"strconv"
)

// Lock is one line of /proc/locks:
// "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF", or a waiter
// "1: -> FLOCK  ADVISORY  WRITE 1235 08:01:5678 0 EOF".
type Lock struct {
	ID     int
	Waiter bool   // "->": blocked waiting for the lock, holding nothing
	Class  string // FLOCK, POSIX, OFDLCK, LEASE, DELEG
	Mode   string // ADVISORY, MANDATORY, ACTIVE, BREAKING, ...
	Access string // READ, WRITE, UNLCK
	PID    int    // -1 for an OFD lock
	Dev    uint64
	Ino    uint64
	Start  string
	End    string // a number or "EOF"
}

// ParseLocks calls fn for each well-formed line of a /proc/locks text;
// malformed lines are passed over. fn's error stops the parse.
func ParseLocks(r io.Reader, fn func(Lock) error) error {
	return eachLine(r, func(line []byte) error {
		l, ok := parseLock(line)
		if !ok {
			return nil
		}
		return fn(l)
	})
}

func parseLock(line []byte) (Lock, bool) {
	f := bytes.Fields(line)
	var l Lock
	if len(f) < 2 {
		return l, false
	}
	id, ok := bytes.CutSuffix(f[0], []byte(":"))
	n, err := strconv.Atoi(string(id))
	if !ok || err != nil {
		return l, false
	}
	l.ID, f = n, f[1:]
	if string(f[0]) == "->" {
		l.Waiter, f = true, f[1:]
	}
	if len(f) < 5 {
		return l, false
	}
	pid, err := strconv.Atoi(string(f[3]))
	if err != nil {
		return l, false
	}
	i := bytes.LastIndexByte(f[4], ':')
	if i < 0 {
		return l, false
	}
	dev, okDev := parseDev(string(f[4][:i]), 16)
	ino, err := strconv.ParseUint(string(f[4][i+1:]), 10, 64)
	if !okDev || err != nil {
		return l, false
	}
	l.Class, l.Mode, l.Access, l.PID = string(f[0]), string(f[1]), string(f[2]), pid
	l.Dev, l.Ino = dev, ino
	if len(f) >= 7 {
		l.Start, l.End = string(f[5]), string(f[6])
	}
	return l, true
}

// Locks parses the file system's /proc/locks.
func (f FS) Locks(fn func(Lock) error) error {
	return readLines(f.Path("locks"), func(r io.Reader) error { return ParseLocks(r, fn) })
}
