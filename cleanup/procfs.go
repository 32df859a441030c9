package cleanup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// fileID names a file by device and inode.
type fileID struct{ dev, ino uint64 }

// held is what processes hold: files open or mapped, and BSD/POSIX locks.
type held struct {
	open   map[fileID]bool
	locked map[fileID]bool
}

func (h *held) isOpen(i Info) bool   { return h != nil && h.open[fileID{i.Dev, i.Ino}] }
func (h *held) isLocked(i Info) bool { return h != nil && h.locked[fileID{i.Dev, i.Ino}] }

// readHeld scans proc once: /proc/*/fd (open files), /proc/*/maps (mapped
// files, such as model weights loaded with mmap) and /proc/locks. Processes
// that vanish or that we may not read are passed over.
func readHeld(proc string) (*held, error) {
	h := &held{open: map[fileID]bool{}, locked: map[fileID]bool{}}
	if proc == "" {
		return h, nil
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return h, fmt.Errorf("scan %s for open files: %w", proc, err)
	}
	var st unix.Stat_t
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		fdDir := filepath.Join(proc, e.Name(), "fd")
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			if unix.Stat(fdDir+"/"+fd.Name(), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				h.open[fileID{st.Dev, st.Ino}] = true
			}
		}
		if maps, err := os.ReadFile(filepath.Join(proc, e.Name(), "maps")); err == nil {
			parseMaps(maps, h.open)
		}
	}
	if locks, err := os.ReadFile(filepath.Join(proc, "locks")); err == nil {
		parseLocks(locks, h.locked)
	}
	return h, nil
}

// parseMaps adds the files named in a /proc/PID/maps text:
// "addr perms offset MAJ:MIN inode path" with MAJ:MIN in hex.
func parseMaps(data []byte, into map[fileID]bool) {
	for line := range bytes.Lines(data) {
		f := bytes.Fields(line)
		if len(f) < 6 || f[4][0] == '0' && len(f[4]) == 1 {
			continue
		}
		dev, ok := parseDev(string(f[3]))
		ino, err := strconv.ParseUint(string(f[4]), 10, 64)
		if ok && err == nil {
			into[fileID{dev, ino}] = true
		}
	}
}

// parseLocks adds the files locked in a /proc/locks text:
// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (MAJ:MIN hex, inode
// decimal; "->" lines are waiters, which hold nothing).
func parseLocks(data []byte, into map[fileID]bool) {
	for line := range bytes.Lines(data) {
		f := strings.Fields(string(line))
		if len(f) < 6 || f[1] == "->" {
			continue
		}
		id := f[5]
		i := strings.LastIndexByte(id, ':')
		if i < 0 {
			continue
		}
		dev, ok := parseDev(id[:i])
		ino, err := strconv.ParseUint(id[i+1:], 10, 64)
		if ok && err == nil {
			into[fileID{dev, ino}] = true
		}
	}
}

func parseDev(s string) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 16, 32)
	b, err2 := strconv.ParseUint(min, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(a), uint32(b)), true
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	point   string
	options string
	fstype  string
}

// readMounts parses mountinfo; a missing file gives no mounts.
func readMounts(path string) ([]mount, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseMountInfo(data), nil
}

func parseMountInfo(data []byte) []mount {
	var ms []mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		m := mount{point: unescapeMount(f[4]), options: f[5]}
		for i := 6; i < len(f)-1; i++ {
			if f[i] == "-" {
				m.fstype = f[i+1]
				break
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount holding path (the longest mount point prefix;
// the last one wins when mounts are stacked).
func mountOf(ms []mount, path string) (mount, bool) {
	var best mount
	found := false
	for _, m := range ms {
		if under(path, m.point) && (!found || len(m.point) >= len(best.point)) {
			best, found = m, true
		}
	}
	return best, found
}

// mountsUnder returns the mount points strictly below root, relative to it.
func mountsUnder(ms []mount, root string) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		if m.point != root && under(m.point, root) {
			out[strings.TrimPrefix(strings.TrimPrefix(m.point, root), "/")] = true
		}
	}
	return out
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

func hasOption(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}
