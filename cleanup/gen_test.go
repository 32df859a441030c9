package cleanup_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The generator of the property test: random trees from a seed, built
// fd-relative (paths longer than PATH_MAX), read back by an independent
// fd-relative reader (snapshot).

var longProperty = flag.Bool("long", false, "property test at full size: a flat directory of 100,000 entries, more seeds")

// propertyLong reports whether the property test runs at full size (-long
// or TEND_PROPERTY_LONG=1).
func propertyLong() bool { return *longProperty || os.Getenv("TEND_PROPERTY_LONG") == "1" }

// propThreshold is the age threshold of every generated rule.
const propThreshold = 7 * 24 * time.Hour

type gkind uint8

const (
	gDir gkind = iota
	gFile
	gSymlink
	gHardlink // another name of link
	gFIFO
	gSocket
)

// gnode is one entry of a generated tree.
type gnode struct {
	name   string
	kind   gkind
	age    time.Duration // atime and mtime this long ago
	size   int
	target string // symlink target
	link   *gnode // gHardlink: the file it names again
	kids   []*gnode
	// uid and perm, for the unprivileged runs (perm 0: the default).
	uid  int
	perm uint32
	// path relative to the root, set by the builder.
	rel string
}

// genOpts sizes a generated tree.
type genOpts struct {
	flat int  // entries of one flat directory
	deep int  // levels of one chain
	wide int  // random entries
	hub  bool // also a Hugging Face hub root
}

func defaultGenOpts(seed uint64) genOpts {
	// CI's seeds: the deep chain stays past PATH_MAX (200 levels of 21
	// bytes and four of 255 are 5,400 bytes); -long's are bigger.
	o := genOpts{flat: 200, deep: 200, wide: 200, hub: true}
	if propertyLong() {
		o.flat, o.deep, o.wide = 100_000, 300, 3000
	}
	if seed%4 == 3 { // some seeds are small and quick
		o.flat, o.deep, o.wide = 20, 40, 60
	}
	return o
}

// gen makes a random tree description from seed.
type gen struct {
	rng  *rand.Rand
	opts genOpts
	n    int
	// files made so far (hard link and symlink targets), dirs made so far
	files []*gnode
	dirs  []*gnode
	// outside is the directory next to the root that symlinks may point at.
	outside string
}

// ages straddle the 7 day threshold, never within an hour of it.
var propAges = []time.Duration{
	time.Hour, 3 * 24 * time.Hour, 6*24*time.Hour + 20*time.Hour,
	7*24*time.Hour + 4*time.Hour, 30 * 24 * time.Hour, 400 * 24 * time.Hour,
}

func (g *gen) age() time.Duration { return propAges[g.rng.IntN(len(propAges))] }
func (g *gen) oldAge() time.Duration {
	return propAges[3+g.rng.IntN(3)]
}

// name returns a fresh name for a directory: plain mostly, sometimes with
// a space, a newline, invalid UTF-8, glob characters, a leading dash, or
// 255 bytes long.
func (g *gen) name(prefix string) string { return g.nameWith(prefix, "") }

// nameWith is name ending in suffix, at most 255 bytes in all.
func (g *gen) nameWith(prefix, suffix string) string {
	g.n++
	base := fmt.Sprintf("%s%d", prefix, g.n)
	switch g.rng.IntN(14) {
	case 0:
		return base + " with space" + suffix
	case 1:
		return base + "\nnewline" + suffix
	case 2:
		return base + "bad\xff\xfe" + suffix
	case 3:
		return base + strings.Repeat("L", 255-len(base)-len(suffix)) + suffix
	case 4:
		return "-" + base + "*?[x]" + suffix
	case 5:
		return base + "é\x80" + suffix
	}
	return base + suffix
}

func newGen(seed uint64, opts genOpts, outside string) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), opts: opts, outside: outside}
}

func (g *gen) dir(parent *gnode, name string, age time.Duration) *gnode {
	d := &gnode{name: name, kind: gDir, age: age}
	parent.kids = append(parent.kids, d)
	g.dirs = append(g.dirs, d)
	return d
}

func (g *gen) file(parent *gnode, name string, age time.Duration) *gnode {
	f := &gnode{name: name, kind: gFile, age: age, size: g.rng.IntN(3000)}
	parent.kids = append(parent.kids, f)
	g.files = append(g.files, f)
	return f
}

// plainTree describes a plain root.
func (g *gen) plainTree() *gnode {
	root := &gnode{kind: gDir, age: g.oldAge()}
	// Random nested directories with every kind of entry.
	g.random(root, 0, g.opts.wide)
	// One deep chain, past PATH_MAX, some levels with 255-byte names.
	d := g.dir(root, g.name("deep"), g.oldAge())
	for i := range g.opts.deep {
		name := fmt.Sprintf("level%03d-%s", i, strings.Repeat("x", 12))
		if i%50 == 7 {
			name = fmt.Sprintf("L%03d", i) + strings.Repeat("y", 251)
		}
		if i%37 == 5 {
			g.file(d, g.name("f"), g.age())
		}
		d = g.dir(d, name, g.oldAge())
	}
	g.file(d, "bottom", g.age())
	// One flat directory.
	flat := g.dir(root, g.name("flat"), g.oldAge())
	for i := range g.opts.flat {
		f := &gnode{name: fmt.Sprintf("e%06d", i), kind: gFile, age: g.age(), size: i % 7}
		flat.kids = append(flat.kids, f)
	}
	// Many empty directories, nested and not, old and young.
	em := g.dir(root, g.name("empties"), g.oldAge())
	for range 30 + g.rng.IntN(60) {
		e := g.dir(em, g.name("e"), g.age())
		for g.rng.IntN(3) == 0 {
			e = g.dir(e, g.name("e"), g.age())
		}
	}
	return root
}

// random adds about n entries under d, nesting up to 6 levels.
func (g *gen) random(d *gnode, depth, n int) {
	for n > 0 {
		n--
		switch k := g.rng.IntN(20); {
		case k < 5 && depth < 6:
			sub := g.dir(d, g.name("d"), g.age())
			m := g.rng.IntN(n/2 + 1)
			g.random(sub, depth+1, m)
			n -= m
		case k < 12:
			g.file(d, g.name("f"), g.age())
		case k < 15:
			d.kids = append(d.kids, &gnode{name: g.name("s"), kind: gSymlink, age: g.age(), target: g.symlinkTarget(depth)})
		case k < 17 && len(g.files) > 0:
			t := g.files[g.rng.IntN(len(g.files))]
			d.kids = append(d.kids, &gnode{name: g.name("h"), kind: gHardlink, link: t})
		case k < 18:
			d.kids = append(d.kids, &gnode{name: g.name("p"), kind: gFIFO, age: g.age()})
		case k < 19:
			d.kids = append(d.kids, &gnode{name: g.name("k"), kind: gSocket, age: g.age()})
		default:
			g.file(d, g.nameWith("f", ".keep"), g.age())
		}
	}
}

// symlinkTarget points inside the root (a file or directory, relative or
// absolute), outside it, or nowhere.
func (g *gen) symlinkTarget(depth int) string {
	switch g.rng.IntN(5) {
	case 0:
		return g.outside
	case 1:
		return filepath.Join(g.outside, "precious0")
	case 2:
		return "missing-target"
	case 3:
		if len(g.dirs) > 0 {
			return strings.Repeat("../", depth) + g.dirs[g.rng.IntN(len(g.dirs))].name
		}
	}
	if len(g.files) > 0 {
		return g.files[g.rng.IntN(len(g.files))].name
	}
	return "."
}

// hubTree describes a Hugging Face hub root: repositories with revisions
// sharing blobs, refs, partial downloads, locks.
func (g *gen) hubTree() *gnode {
	root := &gnode{kind: gDir, age: g.oldAge()}
	locks := g.dir(root, ".locks", g.age())
	for r := range 3 + g.rng.IntN(8) {
		repo := g.dir(root, fmt.Sprintf("models--org--m%d", r), g.age())
		blobs := g.dir(repo, "blobs", g.age())
		snaps := g.dir(repo, "snapshots", g.age())
		refs := g.dir(repo, "refs", g.age())
		lk := g.dir(locks, repo.name, g.age())
		var hashes []*gnode
		for b := range 1 + g.rng.IntN(5) {
			hashes = append(hashes, g.file(blobs, fmt.Sprintf("h%d%03d", r, b), g.age()))
		}
		if g.rng.IntN(2) == 0 {
			g.file(blobs, fmt.Sprintf("h%d999.incomplete", r), g.age())
		}
		nrev := 1 + g.rng.IntN(3)
		for v := range nrev {
			rev := g.dir(snaps, fmt.Sprintf("rev%d%d", r, v), g.age())
			for i, h := range hashes {
				if g.rng.IntN(2) == 0 && i > 0 {
					continue
				}
				if i%3 == 2 {
					sub := g.dir(rev, "onnx", g.age())
					sub.kids = append(sub.kids, &gnode{name: fmt.Sprintf("w%d.bin", i), kind: gSymlink, age: g.age(), target: "../../../blobs/" + h.name})
					continue
				}
				rev.kids = append(rev.kids, &gnode{name: fmt.Sprintf("w%d.bin", i), kind: gSymlink, age: g.age(), target: "../../blobs/" + h.name})
			}
			if v == nrev-1 || g.rng.IntN(2) == 0 {
				refs.kids = append(refs.kids, &gnode{name: fmt.Sprintf("ref%d", v), kind: gFile, age: g.age(), target: rev.name})
			}
		}
		g.file(lk, hashes[0].name+".lock", g.age())
	}
	return root
}

// unprivileged gives the tree's entries to nobody, except a few
// directories root keeps (readable but not writable by nobody, or not even
// readable), one sticky world-writable one with files of both, and one of
// nobody's own that is read-only.
func (g *gen) unprivileged(root *gnode) {
	var all []*gnode
	var walk func(n *gnode)
	walk = func(n *gnode) {
		n.uid = 65534
		all = append(all, n)
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(root)
	for _, n := range all {
		if n.kind != gDir || n == root {
			continue
		}
		switch g.rng.IntN(12) {
		case 0:
			n.uid, n.perm = 0, 0o755
		case 1:
			n.uid, n.perm = 0, 0o700
		case 2:
			n.uid, n.perm = 0, 0o1777
			for _, k := range n.kids {
				if k.kind == gFile && g.rng.IntN(2) == 0 {
					k.uid = 0
				}
			}
		case 3:
			n.perm = 0o555
		}
	}
}

// builder materializes a description under a directory, fd-relative.
type builder struct {
	t   testing.TB
	now time.Time
	// sockDir is a short directory where sockets are bound (sun_path is
	// 108 bytes) before they are renamed into place.
	sockDir string
	root    int // the root's descriptor: hard links name their file from it
}

func (b *builder) fill(fd int, d *gnode, rel string) {
	for _, k := range d.kids {
		k.rel = joinRel(rel, k.name)
		switch k.kind {
		case gDir:
			require.NoError(b.t, unix.Mkdirat(fd, k.name, 0o755), "mkdir %q", k.rel)
			sub, err := unix.Openat(fd, k.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
			require.NoError(b.t, err)
			b.fill(sub, k, k.rel)
			unix.Close(sub)
		case gFile:
			f, err := unix.Openat(fd, k.name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			require.NoError(b.t, err, "create %q", k.rel)
			data := []byte(k.target) // a ref's content
			if len(data) == 0 {
				data = make([]byte, k.size)
			}
			_, err = unix.Write(f, data)
			require.NoError(b.t, err)
			unix.Close(f)
		case gSymlink:
			require.NoError(b.t, unix.Symlinkat(k.target, fd, k.name))
		case gHardlink:
			// Linked from the root's directory by its relative path: the
			// target is shallow (random files only, never in the deep chain).
			require.NoError(b.t, unix.Linkat(b.root, k.link.rel, fd, k.name, 0), "link %q -> %q", k.rel, k.link.rel)
		case gFIFO:
			require.NoError(b.t, unix.Mknodat(fd, k.name, unix.S_IFIFO|0o644, 0))
		case gSocket:
			s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			require.NoError(b.t, err)
			tmp := filepath.Join(b.sockDir, "s")
			require.NoError(b.t, unix.Bind(s, &unix.SockaddrUnix{Name: tmp}))
			unix.Close(s)
			require.NoError(b.t, unix.Renameat(unix.AT_FDCWD, tmp, fd, k.name))
		}
	}
}

// finish sets owners, modes and times bottom-up (a directory last).
func (b *builder) finish(dirfd int, name string, n *gnode) {
	if n.kind == gDir {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		require.NoError(b.t, err)
		for _, k := range n.kids {
			b.finish(fd, k.name, k)
		}
		unix.Close(fd)
	}
	if n.kind == gHardlink {
		return // shares its file's inode
	}
	if n.uid != 0 || n.perm != 0 {
		require.NoError(b.t, unix.Fchownat(dirfd, name, n.uid, n.uid, unix.AT_SYMLINK_NOFOLLOW))
	}
	if n.perm != 0 {
		require.NoError(b.t, unix.Fchmodat(dirfd, name, n.perm, 0))
	}
	t := unix.NsecToTimespec(b.now.Add(-n.age).UnixNano())
	require.NoError(b.t, unix.UtimesNanoAt(dirfd, name, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW))
}

func joinRel(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// makeTree builds the description under a new directory path (its
// parent must exist) and returns it.
func makeTree(t testing.TB, path string, root *gnode, now time.Time) {
	require.NoError(t, os.Mkdir(path, 0o755))
	sock, err := os.MkdirTemp("", "sk")
	require.NoError(t, err)
	defer os.RemoveAll(sock)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	b := &builder{t: t, now: now, sockDir: sock, root: fd}
	b.fill(fd, root, "")
	b.finish(unix.AT_FDCWD, path, root)
}

// snode is one entry as read back from disk.
type snode struct {
	parent *snode
	name   string
	rel    string
	st     unix.Stat_t
	kids   []*snode // sorted by name; nil when not a directory
	// unread: a directory the reader could not open or list.
	unread bool
	target string // a symlink's target
	data   string // a small file's content (hub snapshots: refs)
}

func (n *snode) isDir() bool { return n.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// snapshot reads the tree under path with openat/fstatat and the os
// package's directory reading (not the package's getdents), without
// following symlinks and without refreshing atimes.
func snapshot(t testing.TB, path string) *snode { return snapshotData(t, path, false) }

// snapshotData is snapshot that also reads files of up to 256 bytes and
// symlinks' targets (which refreshes their atimes).
func snapshotData(t testing.TB, path string, withData bool) *snode {
	root := &snode{name: path}
	require.NoError(t, unix.Lstat(path, &root.st))
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NOATIME, 0)
	require.NoError(t, err)
	readSnap(t, fd, root, withData)
	return root
}

func readSnap(t testing.TB, fd int, n *snode, withData bool) {
	dup, err := unix.Dup(fd)
	require.NoError(t, err)
	f := os.NewFile(uintptr(dup), n.rel)
	names, err := f.Readdirnames(-1)
	f.Close()
	n.kids = []*snode{}
	if err != nil {
		n.unread = true
		unix.Close(fd)
		return
	}
	slices.Sort(names)
	for _, name := range names {
		k := &snode{parent: n, name: name, rel: joinRel(n.rel, name)}
		if err := unix.Fstatat(fd, name, &k.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue
		}
		n.kids = append(n.kids, k)
		switch k.st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if !withData {
				break // readlink refreshes a symlink's atime (relatime)
			}
			buf := make([]byte, 4096)
			if m, err := unix.Readlinkat(fd, name, buf); err == nil {
				k.target = string(buf[:m])
			}
		case unix.S_IFREG:
			if withData && k.st.Size <= 256 {
				if f, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOATIME, 0); err == nil {
					buf := make([]byte, 256)
					m, _ := unix.Read(f, buf)
					k.data = string(buf[:max(m, 0)])
					unix.Close(f)
				}
			}
		}
		if k.isDir() {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NOATIME, 0)
			if err != nil {
				k.unread, k.kids = true, []*snode{}
				continue
			}
			readSnap(t, sub, k, withData)
		}
	}
	unix.Close(fd)
}

// flatten lists every path under n (relative), as a set.
func (n *snode) flatten() map[string]bool {
	out := map[string]bool{}
	var walk func(x *snode)
	walk = func(x *snode) {
		for _, k := range x.kids {
			out[k.rel] = true
			walk(k)
		}
	}
	walk(n)
	return out
}
