package procfs

import (
	"bytes"
	"io"
	"strconv"
)

// Mapping is one line of /proc/PID/maps:
// "start-end perms offset MAJ:MIN inode path".
type Mapping struct {
	Start, End uint64
	Perms      string // "r-xp"
	Offset     uint64
	Dev        uint64 // the mapped file's device (0 for anonymous memory)
	Ino        uint64 // the mapped file's inode (0 for anonymous memory)
	// Path is the file or pseudo name ("[heap]"), as the kernel prints it
	// (a newline in a name shows as \012; " (deleted)" may follow).
	Path string
}

// ParseMaps calls fn for each well-formed line of a maps text, one line
// in memory at a time; malformed lines are passed over. fn's error stops
// the parse and is returned.
func ParseMaps(r io.Reader, fn func(Mapping) error) error {
	return eachLine(r, func(line []byte) error {
		m, ok := parseMapping(line)
		if !ok {
			return nil
		}
		return fn(m)
	})
}

func parseMapping(line []byte) (Mapping, bool) {
	var f [5][]byte
	rest := line
	for i := range f {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return Mapping{}, false
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	var m Mapping
	lo, hi, ok := bytes.Cut(f[0], []byte("-"))
	if !ok {
		return m, false
	}
	var err1, err2, err3, err4 error
	m.Start, err1 = strconv.ParseUint(string(lo), 16, 64)
	m.End, err2 = strconv.ParseUint(string(hi), 16, 64)
	m.Offset, err3 = strconv.ParseUint(string(f[2]), 16, 64)
	m.Ino, err4 = strconv.ParseUint(string(f[4]), 10, 64)
	dev, okDev := parseDev(string(f[3]), 16)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !okDev || len(f[1]) == 0 {
		return Mapping{}, false
	}
	m.Perms, m.Dev = string(f[1]), dev
	m.Path = string(bytes.TrimLeft(rest, " "))
	return m, true
}

// Maps parses the process's /proc/PID/maps.
func (p Proc) Maps(fn func(Mapping) error) error {
	return readLines(p.Path("maps"), func(r io.Reader) error { return ParseMaps(r, fn) })
}
