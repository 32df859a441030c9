package procfs

import (
	"strconv"
	"strings"
)

// Mkdev makes a device number from its major and minor parts the way
// Linux encodes dev_t (glibc's makedev, unix.Mkdev on Linux), so that
// numbers parsed from proc files compare equal to stat's st_dev on any
// platform the parser runs on.
func Mkdev(major, minor uint32) uint64 {
	ma, mi := uint64(major), uint64(minor)
	return (ma&0x00000fff)<<8 | (ma&0xfffff000)<<32 | (mi & 0x000000ff) | (mi&0xffffff00)<<12
}

// parseDev parses "MAJ:MIN" with both parts in base (16 in maps and
// locks, 10 in mountinfo).
func parseDev(s string, base int) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, base, 32)
	b, err2 := strconv.ParseUint(min, base, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return Mkdev(uint32(a), uint32(b)), true
}
