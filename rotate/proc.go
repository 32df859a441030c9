package rotate

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdInfo is what /proc/PID/fdinfo/FD says about one open file.
type fdInfo struct {
	Pos   int64
	Flags int // octal in the file: O_APPEND is 02000
}

// parseFdinfo reads the pos: and flags: lines of /proc/PID/fdinfo/FD.
func parseFdinfo(b []byte) (fdInfo, error) {
	var fi fdInfo
	var havePos, haveFlags bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "pos":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fi, fmt.Errorf("fdinfo: bad pos %q", v)
			}
			fi.Pos, havePos = n, true
		case "flags":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return fi, fmt.Errorf("fdinfo: bad flags %q", v)
			}
			fi.Flags, haveFlags = int(n), true
		}
	}
	if !havePos || !haveFlags {
		return fi, fmt.Errorf("fdinfo: no pos or flags line")
	}
	return fi, nil
}

// Append reports whether the descriptor was opened with O_APPEND.
func (f fdInfo) Append() bool { return f.Flags&unix.O_APPEND != 0 }

// Writable reports whether the descriptor can write.
func (f fdInfo) Writable() bool { return f.Flags&(unix.O_WRONLY|unix.O_RDWR) != 0 }

// opener is a process descriptor open on a given file.
type opener struct {
	PID int
	FD  int
	fdInfo
}

// procFS reads processes under a /proc mount point.
type procFS string

// openers lists the descriptors of all processes (but this one) that have
// the file st open. Processes that vanish meanwhile are skipped.
func (p procFS) openers(st os.FileInfo) []opener {
	ents, err := os.ReadDir(string(p))
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []opener
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		for _, fd := range p.fdsOpenOn(pid, st) {
			b, err := os.ReadFile(filepath.Join(string(p), e.Name(), "fdinfo", strconv.Itoa(fd)))
			if err != nil {
				continue
			}
			fi, err := parseFdinfo(b)
			if err != nil {
				continue
			}
			out = append(out, opener{PID: pid, FD: fd, fdInfo: fi})
		}
	}
	return out
}

// fdsOpenOn lists pid's descriptors open on the file st.
func (p procFS) fdsOpenOn(pid int, st os.FileInfo) []int {
	dir := filepath.Join(string(p), strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	want, _ := st.Sys().(*syscall.Stat_t)
	var out []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var s unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &s) != nil {
			continue
		}
		if want != nil && s.Ino == want.Ino && s.Dev == want.Dev {
			out = append(out, fd)
		}
	}
	return out
}
