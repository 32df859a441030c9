// Package cleanuptest provides an in-memory cleanup.FS for tests of sweep
// policies, so they run without a disk. It passes the same conformance test
// as the real, fd-based file system (see cleanup's fsys_test.go).
package cleanuptest

import (
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendkit/tend/cleanup"
)

// FS is an in-memory file system. Paths are absolute and slash-separated.
// Its zero value is not usable; call New. It is safe for concurrent use.
type FS struct {
	mu   sync.Mutex
	root *node
	ino  uint64
	// Errs makes operations on a path fail: key "op path" with op one of
	// open, readdir, lstat, remove (e.g. "open /tmp/x" -> syscall.EACCES).
	Errs map[string]error
}

type node struct {
	typ      cleanup.Type
	size     int64
	dev, ino uint64
	a, m, c  time.Time
	target   string
	kids     map[string]*node
	data     []byte
}

// New returns an empty file system holding only "/", on device 1.
func New() *FS {
	f := &FS{Errs: map[string]error{}}
	f.root = f.newNode(cleanup.TypeDir, 1, time.Unix(0, 0))
	return f
}

func (f *FS) newNode(t cleanup.Type, dev uint64, tm time.Time) *node {
	f.ino++
	n := &node{typ: t, dev: dev, ino: f.ino, a: tm, m: tm, c: tm}
	if t == cleanup.TypeDir {
		n.kids = map[string]*node{}
	}
	return n
}

func split(p string) []string {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookup returns the node at p without following symlinks.
func (f *FS) lookup(p string) *node {
	n := f.root
	for _, part := range split(p) {
		if n == nil || n.typ != cleanup.TypeDir {
			return nil
		}
		n = n.kids[part]
	}
	return n
}

// add creates p (and missing parent directories, timed tm).
func (f *FS) add(p string, t cleanup.Type, tm time.Time) *node {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := split(p)
	n := f.root
	for i, part := range parts {
		k := n.kids[part]
		if i == len(parts)-1 {
			if k != nil && k.typ == cleanup.TypeDir && t == cleanup.TypeDir {
				k.a, k.m, k.c = tm, tm, tm
				return k
			}
			k = f.newNode(t, n.dev, tm)
			n.kids[part] = k
			return k
		}
		if k == nil {
			k = f.newNode(cleanup.TypeDir, n.dev, tm)
			n.kids[part] = k
		}
		n = k
	}
	return n
}

// Mkdir creates the directory p with all three times set to tm.
func (f *FS) Mkdir(p string, tm time.Time) { f.add(p, cleanup.TypeDir, tm) }

// WriteFile creates the file p of size bytes with all three times tm.
func (f *FS) WriteFile(p string, size int64, tm time.Time) {
	f.add(p, cleanup.TypeFile, tm).size = size
}

// WriteData creates the file p holding data, with all three times tm.
func (f *FS) WriteData(p string, data []byte, tm time.Time) {
	n := f.add(p, cleanup.TypeFile, tm)
	n.size, n.data = int64(len(data)), data
}

// Symlink creates the symlink p pointing at target.
func (f *FS) Symlink(target, p string, tm time.Time) {
	f.add(p, cleanup.TypeSymlink, tm).target = target
}

// Mkfifo creates a FIFO (any special file) at p.
func (f *FS) Mkfifo(p string, tm time.Time) { f.add(p, cleanup.TypeOther, tm) }

// Mount makes the directory p the root of another device.
func (f *FS) Mount(p string, tm time.Time) {
	n := f.add(p, cleanup.TypeDir, tm)
	f.mu.Lock()
	n.dev = 1000 + n.ino
	f.mu.Unlock()
}

// SetTimes sets the access, modification and change times of p.
func (f *FS) SetTimes(p string, atime, mtime, ctime time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.lookup(p); n != nil {
		n.a, n.m, n.c = atime, mtime, ctime
	}
}

// Exists reports whether p exists.
func (f *FS) Exists(p string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookup(p) != nil
}

// Paths returns every path under dir (not dir itself), sorted.
func (f *FS) Paths(dir string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	var rec func(p string, n *node)
	rec = func(p string, n *node) {
		for name, k := range n.kids {
			q := path.Join(p, name)
			out = append(out, q)
			if k.typ == cleanup.TypeDir {
				rec(q, k)
			}
		}
	}
	if n := f.lookup(dir); n != nil && n.typ == cleanup.TypeDir {
		rec(path.Clean(dir), n)
	}
	sort.Strings(out)
	return out
}

func (f *FS) err(op, p string) error {
	if e, ok := f.Errs[op+" "+p]; ok {
		return e
	}
	return nil
}

// OpenRoot implements cleanup.FS.
func (f *FS) OpenRoot(p string) (cleanup.Dir, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("open", path.Clean(p)); err != nil {
		return nil, err
	}
	n := f.lookup(p)
	switch {
	case n == nil:
		return nil, syscall.ENOENT
	case n.typ != cleanup.TypeDir:
		return nil, syscall.ENOTDIR
	}
	return &dir{fs: f, n: n, path: path.Clean(p)}, nil
}

// Lstat implements cleanup.FS.
func (f *FS) Lstat(p string) (cleanup.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("lstat", path.Clean(p)); err != nil {
		return cleanup.Info{}, err
	}
	n := f.lookup(p)
	if n == nil {
		return cleanup.Info{}, syscall.ENOENT
	}
	return info(n), nil
}

type dir struct {
	fs     *FS
	n      *node
	path   string
	closed bool
}

func (d *dir) child(name string) (*node, error) {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return nil, syscall.EINVAL
	}
	if d.closed {
		return nil, syscall.EBADF
	}
	k := d.n.kids[name]
	if k == nil {
		return nil, syscall.ENOENT
	}
	return k, nil
}

func (d *dir) ReadDir() ([]string, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if err := d.fs.err("readdir", d.path); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(d.n.kids))
	for name := range d.n.kids {
		names = append(names, name)
	}
	return names, nil
}

func (d *dir) Lstat(name string) (cleanup.Info, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if err := d.fs.err("lstat", path.Join(d.path, name)); err != nil {
		return cleanup.Info{}, err
	}
	k, err := d.child(name)
	if err != nil {
		return cleanup.Info{}, err
	}
	return info(k), nil
}

func info(n *node) cleanup.Info {
	nlink := uint64(1)
	if n.typ == cleanup.TypeDir {
		nlink = 2
	}
	// Blocks as a file system of 512-byte blocks allocates them.
	return cleanup.Info{Type: n.typ, Size: n.size, Blocks: (n.size + 511) / 512, Dev: n.dev, Ino: n.ino, Nlink: nlink, Atime: n.a, Mtime: n.m, Ctime: n.c}
}

func (d *dir) OpenDir(name string) (cleanup.Dir, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	p := path.Join(d.path, name)
	if err := d.fs.err("open", p); err != nil {
		return nil, err
	}
	k, err := d.child(name)
	if err != nil {
		return nil, err
	}
	if k.typ != cleanup.TypeDir {
		return nil, syscall.ENOTDIR
	}
	return &dir{fs: d.fs, n: k, path: p}, nil
}

func (d *dir) Remove(name string, isDir bool) error {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if err := d.fs.err("remove", path.Join(d.path, name)); err != nil {
		return err
	}
	k, err := d.child(name)
	if err != nil {
		return err
	}
	switch {
	case isDir && k.typ != cleanup.TypeDir:
		return syscall.ENOTDIR
	case !isDir && k.typ == cleanup.TypeDir:
		return syscall.EISDIR
	case isDir && len(k.kids) > 0:
		return syscall.ENOTEMPTY
	}
	delete(d.n.kids, name)
	return nil
}

func (d *dir) ReadFile(name string, max int) ([]byte, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	k, err := d.child(name)
	switch {
	case err != nil:
		return nil, err
	case k.typ == cleanup.TypeSymlink:
		return nil, syscall.ELOOP
	case k.typ != cleanup.TypeFile:
		return nil, syscall.EINVAL
	}
	data := k.data
	if data == nil {
		data = make([]byte, k.size)
	}
	if len(data) > max {
		return data[:max], nil
	}
	return append([]byte(nil), data...), nil
}

func (d *dir) Readlink(name string) (string, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	k, err := d.child(name)
	if err != nil {
		return "", err
	}
	if k.typ != cleanup.TypeSymlink {
		return "", syscall.EINVAL
	}
	return k.target, nil
}

func (d *dir) Stat() (cleanup.Info, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	return info(d.n), nil
}

func (d *dir) Close() error {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if d.closed {
		return syscall.EBADF
	}
	d.closed = true
	return nil
}
