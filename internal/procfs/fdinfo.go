package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Open flags as /proc/PID/fdinfo prints them (octal, Linux's generic
// values).
const (
	flagAccMode = 0o3
	flagWrOnly  = 0o1
	flagRdWr    = 0o2
	flagAppend  = 0o2000
)

// FDInfo is what /proc/PID/fdinfo/FD says about one open descriptor.
type FDInfo struct {
	// Pos is the file offset.
	Pos int64
	// Flags are the open flags (O_APPEND is 02000).
	Flags int
	// MntID is the mount the file is on (-1 when the kernel does not say).
	MntID int
}

// Append reports whether the descriptor was opened with O_APPEND.
func (f FDInfo) Append() bool { return f.Flags&flagAppend != 0 }

// Writable reports whether the descriptor can write.
func (f FDInfo) Writable() bool {
	m := f.Flags & flagAccMode
	return m == flagWrOnly || m == flagRdWr
}

// errFDInfoDone stops the scan once pos, flags and mnt_id are read.
var errFDInfoDone = errors.New("done")

// ParseFDInfo reads the pos:, flags: and mnt_id: lines of an fdinfo file
// (they come first; the rest, which can be long for an epoll or inotify
// descriptor, is not read). Both pos and flags must be present, pos not
// negative and flags octal.
func ParseFDInfo(r io.Reader) (FDInfo, error) {
	fi := FDInfo{MntID: -1}
	var havePos, haveFlags, haveMnt bool
	err := eachLine(r, func(line []byte) error {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "pos":
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("fdinfo: bad pos %q", v)
			}
			fi.Pos, havePos = n, true
		case "flags":
			n, err := strconv.ParseUint(string(v), 8, 32)
			if err != nil {
				return fmt.Errorf("fdinfo: bad flags %q", v)
			}
			fi.Flags, haveFlags = int(n), true
		case "mnt_id":
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 {
				return fmt.Errorf("fdinfo: bad mnt_id %q", v)
			}
			fi.MntID, haveMnt = n, true
		}
		if havePos && haveFlags && haveMnt {
			return errFDInfoDone
		}
		return nil
	})
	if err != nil && err != errFDInfoDone {
		return fi, err
	}
	if !havePos || !haveFlags {
		return fi, fmt.Errorf("fdinfo: no pos or flags line")
	}
	return fi, nil
}
