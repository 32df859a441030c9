package procfs

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func addFile(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzParseFDInfo(f *testing.F) {
	addFile(f, "testdata/proc/42/fdinfo/3")
	f.Add([]byte("pos:\t-1\nflags:\t9\n"))
	f.Add([]byte("flags: 02000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fi, err := ParseFDInfo(bytes.NewReader(b))
		if err == nil && (fi.Pos < 0 || fi.Flags < 0 || fi.MntID < -1) {
			t.Fatalf("out of range accepted: %+v", fi)
		}
	})
}

func FuzzParseMountInfo(f *testing.F) {
	addFile(f, "testdata/proc/self/mountinfo")
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 0 0:1 / / rw - ext4  rw\n2 1 0:2 \\ \\04 rw a b c - x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMountInfo(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(ms) > bytes.Count(b, []byte("\n"))+1 {
			t.Fatalf("%d mounts from %d lines", len(ms), bytes.Count(b, []byte("\n"))+1)
		}
		for _, m := range ms {
			if m.FSType == "" && !strings.Contains(string(b), " -  ") {
				t.Fatalf("mount without a type: %+v", m)
			}
		}
	})
}

func FuzzUnescape(f *testing.F) {
	f.Add(`a\040b\134\011\012`)
	f.Add(`\400\08\`)
	f.Fuzz(func(t *testing.T, s string) {
		u := Unescape(s)
		if len(u) > len(s) {
			t.Fatalf("unescaping grew %q to %q", s, u)
		}
		if !strings.Contains(s, `\`) && u != s {
			t.Fatalf("changed %q without a backslash", s)
		}
		// Escaping every byte the kernel would escape, then unescaping,
		// gives the original back.
		if utf8.ValidString(s) {
			var esc strings.Builder
			for i := 0; i < len(s); i++ {
				switch c := s[i]; c {
				case ' ', '\t', '\n', '\\':
					esc.WriteString(`\` + string('0'+c>>6) + string('0'+c>>3&7) + string('0'+c&7))
				default:
					esc.WriteByte(c)
				}
			}
			if got := Unescape(esc.String()); got != s {
				t.Fatalf("round trip of %q: escaped %q, unescaped %q", s, esc.String(), got)
			}
		}
	})
}

func FuzzParseMaps(f *testing.F) {
	addFile(f, "testdata/proc/42/maps")
	f.Add([]byte("0-1 r 0 zz:1 5 /x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ParseMaps(bytes.NewReader(b), func(m Mapping) error {
			if m.Perms == "" || strings.ContainsRune(m.Path, '\n') {
				t.Fatalf("bad mapping %+v", m)
			}
			return nil
		})
	})
}

func FuzzParseLocks(f *testing.F) {
	addFile(f, "testdata/proc/locks")
	f.Add([]byte("1: FLOCK ADVISORY WRITE 1 zz:zz:zz 0 EOF\n1: ->\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ParseLocks(bytes.NewReader(b), func(l Lock) error {
			if l.Class == "" || l.Class == "->" {
				t.Fatalf("bad lock %+v", l)
			}
			return nil
		})
	})
}

func FuzzParseCgroups(f *testing.F) {
	addFile(f, "testdata/proc/self/cgroup")
	f.Add([]byte("0::/\n1:a,b:/x:y\n:::\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseCgroups(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.HierarchyID < 0 || c.Unified() && len(c.Controllers) > 0 {
				t.Fatalf("bad cgroup %+v", c)
			}
		}
	})
}
