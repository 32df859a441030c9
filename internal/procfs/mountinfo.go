package procfs

import (
	"io"
	"strconv"
	"strings"
)

// Mount is one line of /proc/PID/mountinfo (proc(5)):
// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
// Paths and names have the kernel's octal escapes (\040 for a space)
// undone.
type Mount struct {
	ID, Parent int
	Dev        uint64 // st_dev of files on the mount
	// Root is the path of the mount's root within its file system; Point
	// the mount point, relative to the process's root.
	Root, Point string
	// Options are the per-mount options ("rw,nosuid,noatime").
	Options string
	// Optional are the optional fields ("shared:1", "master:2").
	Optional []string
	FSType   string
	Source   string
	// SuperOptions are the per-superblock options ("rw,size=1024k").
	SuperOptions string
}

// HasOption reports whether o is among the per-mount options.
func (m Mount) HasOption(o string) bool { return hasOption(m.Options, o) }

// HasSuperOption reports whether o is among the per-superblock options.
func (m Mount) HasSuperOption(o string) bool { return hasOption(m.SuperOptions, o) }

func hasOption(opts, o string) bool {
	for x := range strings.SplitSeq(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// ParseMountInfo parses a mountinfo text, in file order; malformed lines
// are passed over.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var ms []Mount
	err := eachLine(r, func(line []byte) error {
		if m, ok := parseMount(string(line)); ok {
			ms = append(ms, m)
		}
		return nil
	})
	return ms, err
}

func parseMount(line string) (Mount, bool) {
	var m Mount
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+2 {
		return m, false
	}
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	dev, okDev := parseDev(f[2], 10)
	if err1 != nil || err2 != nil || !okDev {
		return m, false
	}
	m.ID, m.Parent, m.Dev = id, parent, dev
	m.Root, m.Point, m.Options = Unescape(f[3]), Unescape(f[4]), f[5]
	if sep > 6 {
		m.Optional = f[6:sep]
	}
	// After the separator the fields are single-space separated; an empty
	// source shows as two spaces, which Fields would merge.
	_, post, _ := strings.Cut(line, " - ")
	g := strings.Split(post, " ")
	if len(g) != 3 {
		g = f[sep+1:]
	}
	m.FSType = Unescape(g[0])
	if len(g) > 1 {
		m.Source = Unescape(g[1])
	}
	if len(g) > 2 {
		m.SuperOptions = g[2]
	}
	return m, true
}

// Unescape undoes the kernel's octal escapes in a mountinfo field: every
// backslash followed by three octal digits naming a byte (\040 space,
// \011 tab, \012 newline, \134 backslash, and any other the kernel may
// add). Anything else is kept as written.
func Unescape(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			if s[i+1] <= '3' { // \400 and up are not bytes
				b = append(b, v)
				i += 3
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// MountInfo parses the process's /proc/PID/mountinfo.
func (p Proc) MountInfo() ([]Mount, error) {
	var ms []Mount
	err := readLines(p.Path("mountinfo"), func(r io.Reader) error {
		var err error
		ms, err = ParseMountInfo(r)
		return err
	})
	return ms, err
}

// ReadMountInfo parses a mountinfo file at path (for callers that keep a
// path knob for the file itself).
func ReadMountInfo(path string) ([]Mount, error) {
	var ms []Mount
	err := readLines(path, func(r io.Reader) error {
		var err error
		ms, err = ParseMountInfo(r)
		return err
	})
	return ms, err
}
