package cleanup_test

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// The oracle of the property test: what a sweep must delete, written from
// the documented semantics (README, Rule, Sweeper and LayoutHuggingFace doc
// comments), not from the planner's code. It reads a snapshot of the tree.

// oracleCfg is what the oracle needs to know of a run.
type oracleCfg struct {
	cutoff  int64           // UnixNano: entries modified before this are old
	exclude string          // a base-name glob (Rule.Exclude)
	protect map[string]bool // root-relative protected paths
	held    map[[2]uint64]bool
	uid     uint32 // 0: root, may remove anything
	gid     uint32
	atime   bool // age by the last access (Rule.Age atime), else by mtime
}

func (c *oracleCfg) old(st *unix.Stat_t) bool {
	if c.atime {
		return st.Atim.Nano() < c.cutoff
	}
	return st.Mtim.Nano() < c.cutoff
}

func (c *oracleCfg) isHeld(st *unix.Stat_t) bool { return c.held[[2]uint64{st.Dev, st.Ino}] }

// class returns the three permission bits of mode that apply to this user
// for an entry owned by uid:gid.
func (c *oracleCfg) class(st *unix.Stat_t) uint32 {
	switch {
	case st.Uid == c.uid:
		return (st.Mode >> 6) & 7
	case st.Gid == c.gid:
		return (st.Mode >> 3) & 7
	}
	return st.Mode & 7
}

// canEnter: the user may list the directory and look up its entries.
func (c *oracleCfg) canEnter(dir *unix.Stat_t) bool {
	return c.uid == 0 || c.class(dir)&5 == 5
}

// canUnlink: the user may remove an entry from dir (write and search on
// it; in a sticky directory only its own entries or any in its own
// directory). Root may remove anything.
func (c *oracleCfg) canUnlink(dir, entry *unix.Stat_t) bool {
	if c.uid == 0 {
		return true
	}
	if c.class(dir)&3 != 3 {
		return false
	}
	return dir.Mode&unix.S_ISVTX == 0 || entry.Uid == c.uid || dir.Uid == c.uid
}

// plainOracle returns what a plain rule deletes under root, in the
// documented order: depth first with names sorted, a directory's files
// (and symlinks) before its subdirectories, a directory after its
// contents.
func plainOracle(root *snode, c *oracleCfg) []string {
	var out []string
	plainDir(root, c, &out)
	return out
}

// plainDir appends the deletions inside d and reports whether everything
// in d goes.
func plainDir(d *snode, c *oracleCfg, out *[]string) bool {
	if d.unread || !c.canEnter(&d.st) {
		return false
	}
	all := true
	for _, k := range d.kids {
		if k.isDir() {
			continue
		}
		if plainEntryGoes(d, k, c) {
			*out = append(*out, k.rel)
		} else {
			all = false
		}
	}
	for _, k := range d.kids {
		if !k.isDir() {
			continue
		}
		if c.excluded(k) {
			all = false
			continue // an excluded directory is not entered
		}
		emptied := plainDir(k, c, out)
		if emptied && c.old(&k.st) && c.canUnlink(&d.st, &k.st) {
			*out = append(*out, k.rel)
		} else {
			all = false
		}
	}
	return all
}

func (c *oracleCfg) excluded(k *snode) bool {
	if c.protect[k.rel] {
		return true
	}
	ok, _ := path.Match(c.exclude, k.name)
	return c.exclude != "" && ok
}

// plainEntryGoes: a file goes when old, not held, not excluded; a symlink
// (itself) when old; sockets, FIFOs and devices never.
func plainEntryGoes(d, k *snode, c *oracleCfg) bool {
	if c.excluded(k) || !c.canUnlink(&d.st, &k.st) || !c.old(&k.st) {
		return false
	}
	switch k.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return !c.isHeld(&k.st)
	case unix.S_IFLNK:
		return true
	}
	return false
}

// visible: the user could read the directory (root reads anything the
// snapshot read).
func (c *oracleCfg) visible(d *snode) bool { return !d.unread && c.canEnter(&d.st) }

// walkVisible calls f for everything under n the user can see.
func (c *oracleCfg) walkVisible(n *snode, f func(*snode)) {
	if !c.visible(n) {
		return
	}
	for _, k := range n.kids {
		f(k)
		if k.isDir() {
			c.walkVisible(k, f)
		}
	}
}

func (c *oracleCfg) kidNamed(n *snode, name string) *snode {
	for _, k := range n.kids {
		if k.name == name && k.isDir() && c.visible(k) {
			return k
		}
	}
	return nil
}

// mayGo: the user may remove n from its directory.
func (c *oracleCfg) mayGo(n *snode) bool { return c.canUnlink(&n.parent.st, &n.st) }

// hubOracle returns the set of paths a Hugging Face rule deletes: stale
// unheld partial downloads and .lock files; old unheld revisions with their
// links, the blobs no kept revision links to and the refs naming them; with
// the last revision the rest of the repository, except what is held,
// young, neither a file, symlink nor directory, or unreadable, and the
// directories holding those. A revision the user may not remove all of
// stays whole; so does a download or lock file it may not remove.
func hubOracle(root *snode, c *oracleCfg) map[string]bool {
	del := map[string]bool{}
	if !c.visible(root) {
		return del
	}
	for _, top := range root.kids {
		switch {
		case top.name == ".locks" && top.isDir():
			c.walkVisible(top, func(n *snode) {
				if n.st.Mode&unix.S_IFMT == unix.S_IFREG && c.old(&n.st) && !c.isHeld(&n.st) && c.mayGo(n) {
					del[n.rel] = true
				}
			})
		case top.isDir() && c.visible(top) && (strings.HasPrefix(top.name, "models--") || strings.HasPrefix(top.name, "datasets--") || strings.HasPrefix(top.name, "spaces--")):
			hubRepoOracle(top, c, del)
		}
	}
	return del
}

func walkSnap(n *snode, f func(*snode)) {
	for _, k := range n.kids {
		f(k)
		walkSnap(k, f)
	}
}

type oracleRev struct {
	snap  *snode
	blobs map[string]bool
	used  int64
	held  bool
	gone  bool
}

func hubRepoOracle(repo *snode, c *oracleCfg, del map[string]bool) {
	blobs := map[string]*snode{}
	if b := c.kidNamed(repo, "blobs"); b != nil {
		for _, k := range b.kids {
			if k.st.Mode&unix.S_IFMT != unix.S_IFREG {
				continue
			}
			if strings.HasSuffix(k.name, ".incomplete") {
				if c.old(&k.st) && !c.isHeld(&k.st) && c.mayGo(k) {
					del[k.rel] = true
				}
				continue
			}
			blobs[k.name] = k
		}
	}
	// A blobs folder the user cannot read hides the revisions' ages: a
	// revision linking into it stays.
	blobsHidden := false
	for _, k := range repo.kids {
		blobsHidden = blobsHidden || k.name == "blobs" && k.isDir() && !c.visible(k)
	}
	var revs []*oracleRev
	if s := c.kidNamed(repo, "snapshots"); s != nil {
		for _, sn := range s.kids {
			if !sn.isDir() || !c.visible(sn) {
				continue
			}
			rv := &oracleRev{snap: sn, blobs: map[string]bool{}, used: sn.st.Mtim.Nano()}
			c.walkVisible(sn, func(n *snode) {
				switch n.st.Mode & unix.S_IFMT {
				case unix.S_IFLNK:
					// The link's target, resolved lexically from its folder.
					rel := strings.TrimPrefix(n.rel, repo.rel+"/")
					p := path.Clean(path.Join(path.Dir(rel), n.target))
					b, ok := strings.CutPrefix(p, "blobs/")
					if ok && blobs[b] != nil {
						rv.blobs[b] = true
					}
					rv.held = rv.held || ok && blobsHidden
				case unix.S_IFREG:
					rv.held = rv.held || c.isHeld(&n.st)
				}
			})
			if len(rv.blobs) > 0 {
				rv.used = 0
				for b := range rv.blobs {
					rv.used = max(rv.used, blobs[b].st.Mtim.Nano())
					rv.held = rv.held || c.isHeld(&blobs[b].st)
				}
			}
			revs = append(revs, rv)
		}
	}
	refs := map[string][]*snode{} // by the revision they name
	if r := c.kidNamed(repo, "refs"); r != nil {
		c.walkVisible(r, func(n *snode) {
			if n.st.Mode&unix.S_IFMT == unix.S_IFREG {
				name := strings.TrimSpace(n.data)
				refs[name] = append(refs[name], n)
			}
		})
	}
	for _, rv := range revs {
		if rv.used >= c.cutoff || rv.held {
			continue
		}
		own := map[string]bool{}
		walkSnap(rv.snap, func(n *snode) {
			if n.st.Mode&unix.S_IFMT == unix.S_IFLNK {
				own[n.rel] = true
			}
		})
		for b := range rv.blobs {
			own[blobs[b].rel] = true
		}
		for _, ref := range refs[rv.snap.name] {
			own[ref.rel] = true
		}
		stays := func(n *snode) bool {
			switch n.st.Mode & unix.S_IFMT {
			case unix.S_IFREG, unix.S_IFLNK:
			default:
				return true // never a FIFO or socket
			}
			if c.isHeld(&n.st) {
				return true
			}
			return !own[n.rel] && !c.old(&n.st)
		}
		kept := map[string]bool{} // blobs another remaining revision links to
		last := true
		for _, o := range revs {
			if o != rv && !o.gone {
				last = false
				for b := range o.blobs {
					kept[b] = true
				}
			}
		}
		drop := map[*snode]bool{}
		if last {
			c.dropSnap(repo, stays, del, drop)
		} else {
			c.dropSnap(rv.snap, stays, del, drop)
			for b := range rv.blobs {
				if !kept[b] && !stays(blobs[b]) && !del[blobs[b].rel] {
					drop[blobs[b]] = true
				}
			}
			for _, ref := range refs[rv.snap.name] {
				if !stays(ref) && !del[ref.rel] {
					drop[ref] = true
				}
			}
		}
		permitted := true
		for n := range drop {
			permitted = permitted && c.mayGo(n)
		}
		if !permitted {
			continue // the revision stays whole
		}
		rv.gone = true
		for n := range drop {
			del[n.rel] = true
		}
	}
}

// dropSnap adds to drop everything under and including d that goes, and
// reports whether d goes: a directory goes when all it holds goes (or
// went already).
func (c *oracleCfg) dropSnap(d *snode, stays func(*snode) bool, del map[string]bool, drop map[*snode]bool) bool {
	if !c.visible(d) {
		return false // never read: it and what it holds stay
	}
	all := true
	for _, k := range d.kids {
		switch {
		case del[k.rel]:
		case k.isDir():
			if !c.dropSnap(k, stays, del, drop) {
				all = false
			}
		case stays(k):
			all = false
		default:
			drop[k] = true
		}
	}
	if all && !del[d.rel] {
		drop[d] = true
	}
	return all
}
