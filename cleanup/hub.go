package cleanup

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// A Hugging Face hub cache (LayoutHuggingFace) holds one directory per
// repository, models--ORG--NAME (also datasets--, spaces--), with
// blobs/HASH (the files), snapshots/REV/... (relative symlinks into blobs)
// and refs/NAME (a file holding a REV); partial downloads are
// blobs/HASH.incomplete and download locks live in .locks/REPO/HASH.lock.
//
// A revision is old when the newest use (by the rule's Age) of the blobs it
// links to is older than OlderThan; an old revision is deleted whole: its
// snapshot folder, the blobs no kept revision links to, and the refs naming
// it, as `huggingface-cli delete-cache` does. When every revision of a
// repository goes, the whole repository folder goes. A revision with a blob
// held open, mapped or locked by a process is kept. Stale .incomplete
// blobs and .lock files go by their own age unless held. With KeepUnder,
// least recently used revisions go next until the blobs fit the budget.

// hnode is one scanned entry of a repository.
type hnode struct {
	name   string
	info   Info
	dir    int32 // the directory holding it
	self   int32 // for a directory: its own index
	kids   []*hnode
	target string // symlink target
}

// revision is one snapshot of a repository.
type revision struct {
	repo  *hrepo
	name  string
	snap  *hnode
	blobs []string
	used  int64
	held  bool
	bytes int64
	gone  bool
	// denied: this process may not remove all of it (named in the errors).
	denied bool
}

type hrepo struct {
	node  *hnode
	blobs map[string]*hnode // by name in blobs/
	refs  []*hnode          // ref files, with their content in target
	revs  []*revision
	w     *walk
}

func (p *planner) hub(ri int32, r Rule, basis AgeBasis, d Dir, di int32, info Info) error {
	w := newWalk(p, ri, r, basis, r.Root)
	w.rootDev = info.Dev
	w.dirInfo = map[int32]Info{di: info}
	root := &hnode{name: r.Root, self: di, dir: -1}
	if err := p.scanTree(w, d, root, 0); err != nil {
		return err
	}
	var repos []*hrepo
	for _, k := range root.kids {
		switch {
		case k.info.Type == TypeDir && (strings.HasPrefix(k.name, "models--") || strings.HasPrefix(k.name, "datasets--") || strings.HasPrefix(k.name, "spaces--")):
			repos = append(repos, p.hubRepo(w, k))
		case k.info.Type == TypeDir && k.name == ".locks":
			p.hubLocks(w, k)
		}
	}
	var all []*revision
	total := int64(0)
	for _, rp := range repos {
		all = append(all, rp.revs...)
		for _, b := range rp.blobs {
			total += b.info.Size
		}
	}
	for _, rv := range all {
		if w.cutoff != 0 && rv.used < w.cutoff {
			p.dropRevision(rv, &total)
		}
	}
	if r.KeepUnder > 0 {
		slices.SortStableFunc(all, func(a, b *revision) int { return int(min(max(a.used-b.used, -1), 1)) })
		for _, rv := range all {
			if total <= r.KeepUnder {
				break
			}
			if !rv.gone {
				p.dropRevision(rv, &total)
			}
		}
	}
	return nil
}

// scanTree reads the directory n (open as d) and everything below it.
func (p *planner) scanTree(w *walk, d Dir, n *hnode, depth int) error {
	defer d.Close()
	names, err := d.ReadDir()
	if err != nil {
		return fmt.Errorf("sweep %s: read %s: %w", w.r.Root, p.rep.dirPath(n.self), err)
	}
	slices.Sort(names)
	for _, name := range names {
		info, err := d.Lstat(name)
		if err != nil {
			if !errGone(err) {
				p.errs = errAppend(p.errs, fmt.Errorf("sweep %s: stat %s/%s: %w", w.r.Root, p.rep.dirPath(n.self), name, err))
			}
			continue
		}
		p.rep.Scanned++
		p.rep.Roots[w.ri].Scanned++
		k := &hnode{name: name, info: info, dir: n.self, self: -1}
		switch info.Type {
		case TypeSymlink:
			k.target, _ = d.Readlink(name)
		case TypeFile:
			if depth == 2 && p.rep.dirs[n.self].name == "refs" || depth > 2 && strings.Contains(p.rep.dirPath(n.self), "/refs/") {
				b, _ := d.ReadFile(name, 256)
				k.target = strings.TrimSpace(string(b))
			}
		case TypeDir:
			if info.Dev != w.rootDev {
				p.rep.skip(SkipMount)
				continue
			}
			if depth > 32 { // no hub folder nests this deep
				p.rep.skip(SkipTooDeep)
				continue
			}
			sub, err := d.OpenDir(name)
			if err != nil {
				p.errs = errAppend(p.errs, fmt.Errorf("sweep %s: open %s/%s: %w", w.r.Root, p.rep.dirPath(n.self), name, err))
				continue
			}
			if got, err := sub.Stat(); err != nil || got.Ino != info.Ino {
				sub.Close()
				p.rep.skip(SkipChanged)
				continue
			}
			p.rep.dirs = append(p.rep.dirs, dirRec{parent: n.self, root: w.ri, name: name, dev: info.Dev, ino: info.Ino})
			k.self = int32(len(p.rep.dirs) - 1)
			w.dirInfo[k.self] = info
			if err := p.scanTree(w, sub, k, depth+1); err != nil {
				p.errs = errAppend(p.errs, err)
			}
		}
		n.kids = append(n.kids, k)
	}
	return nil
}

func (n *hnode) kid(name string) *hnode {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// hubRepo reads one repository and plans its stale .incomplete blobs.
func (p *planner) hubRepo(w *walk, n *hnode) *hrepo {
	rp := &hrepo{node: n, blobs: map[string]*hnode{}, w: w}
	if b := n.kid("blobs"); b != nil {
		for _, k := range b.kids {
			if k.info.Type != TypeFile {
				continue
			}
			if strings.HasSuffix(k.name, ".incomplete") {
				if _, old := w.old(k.info); old && !p.held.isOpen(k.info) && !p.held.isLocked(k.info) && !p.capped() && w.mayDrop(k) {
					p.emit(w.nodeItem(k, ReasonIncomplete))
				}
				continue
			}
			rp.blobs[k.name] = k
		}
	}
	if refs := n.kid("refs"); refs != nil {
		var walkRefs func(x *hnode)
		walkRefs = func(x *hnode) {
			for _, k := range x.kids {
				if k.info.Type == TypeDir {
					walkRefs(k)
				} else if k.info.Type == TypeFile {
					rp.refs = append(rp.refs, k)
				}
			}
		}
		walkRefs(refs)
	}
	if snaps := n.kid("snapshots"); snaps != nil {
		for _, s := range snaps.kids {
			if s.info.Type != TypeDir {
				continue
			}
			rv := &revision{repo: rp, name: s.name, snap: s, used: ageOf(w.basis, s.info).UnixNano()}
			seen := map[string]bool{}
			var links func(x *hnode, rel string)
			links = func(x *hnode, rel string) {
				for _, k := range x.kids {
					switch k.info.Type {
					case TypeDir:
						links(k, rel+"/"+k.name)
					case TypeSymlink:
						// snapshots/REV/<rel>/name -> ../../blobs/HASH
						tp := path.Clean(path.Join("snapshots", s.name, rel, k.target))
						if b, ok := strings.CutPrefix(tp, "blobs/"); ok && rp.blobs[b] != nil && !seen[b] {
							seen[b] = true
							rv.blobs = append(rv.blobs, b)
						}
					case TypeFile:
						if p.held.isOpen(k.info) || p.held.isLocked(k.info) {
							rv.held = true
						}
					}
				}
			}
			links(s, "")
			if len(rv.blobs) > 0 {
				rv.used = 0
			}
			for _, b := range rv.blobs {
				bi := rp.blobs[b].info
				rv.used = max(rv.used, ageOf(w.basis, bi).UnixNano())
				rv.bytes += bi.Size
				if p.held.isOpen(bi) || p.held.isLocked(bi) {
					rv.held = true
				}
			}
			rp.revs = append(rp.revs, rv)
		}
	}
	return rp
}

// hubLocks plans old, unheld .lock files under .locks.
func (p *planner) hubLocks(w *walk, n *hnode) {
	for _, k := range n.kids {
		switch {
		case k.info.Type == TypeDir:
			p.hubLocks(w, k)
		case k.info.Type == TypeFile:
			_, old := w.old(k.info)
			switch {
			case !old:
			case p.held.isLocked(k.info) || p.held.isOpen(k.info):
				p.rep.skip(SkipLocked)
			case !p.capped() && w.mayDrop(k):
				p.emit(w.nodeItem(k, ReasonAge))
			}
		}
	}
}

// dropRevision plans a whole revision (or the whole repository when it is
// the last one), unless it is held, this process may not remove all of it,
// or the cap would cut it in half.
func (p *planner) dropRevision(rv *revision, total *int64) {
	if rv.held {
		p.rep.skip(SkipHeldRev)
		return
	}
	if rv.denied {
		return
	}
	rp := rv.repo
	last := true
	keptBlobs := map[string]bool{}
	for _, o := range rp.revs {
		if o != rv && !o.gone {
			last = false
			for _, b := range o.blobs {
				keptBlobs[b] = true
			}
		}
	}
	var ks []*hnode
	var freed int64
	if last {
		// The repository goes whole, like delete-cache does.
		ks = subtree(rp.node, nil)
		for _, b := range rp.blobs {
			freed += b.info.Size
		}
	} else {
		ks = subtree(rv.snap, nil)
		var bl []string
		for _, b := range rv.blobs {
			if !keptBlobs[b] {
				bl = append(bl, b)
			}
		}
		slices.Sort(bl)
		for _, b := range bl {
			ks = append(ks, rp.blobs[b])
			freed += rp.blobs[b].info.Size
		}
		for _, ref := range rp.refs {
			if ref.target == rv.name {
				ks = append(ks, ref)
			}
		}
	}
	if !rp.w.mayDrop(ks...) {
		rv.denied = true
		return
	}
	if p.s.MaxDeletions > 0 && len(p.rep.items)+len(ks) > p.s.MaxDeletions {
		p.rep.skip(SkipCap)
		return
	}
	for _, k := range ks {
		p.emit(rp.w.nodeItem(k, ReasonRevision))
	}
	rv.gone = true
	*total -= freed
}

// mayDrop reports whether this process may remove every node in ks from
// its directory; when not, the first it may not is recorded as denied.
func (w *walk) mayDrop(ks ...*hnode) bool {
	if w.p.id == nil {
		return true
	}
	for _, k := range ks {
		if !w.p.id.mayRemove(w.dirInfo[k.dir], k.info.Uid) {
			w.p.denied(w.r.Root, w.p.rep.dirPath(k.dir)+"/"+k.name)
			return false
		}
	}
	return true
}

// nodeItem is the deletion of k.
func (w *walk) nodeItem(k *hnode, why Reason) item {
	it := item{dir: k.dir, typ: k.info.Type, why: why, name: k.name, ino: k.info.Ino, used: ageOf(w.basis, k.info).UnixNano()}
	if k.info.Type == TypeFile {
		it.size = k.info.Size
	}
	return it
}

// subtree appends n and everything below it to out, contents first.
func subtree(n *hnode, out []*hnode) []*hnode {
	for _, k := range n.kids {
		if k.info.Type != TypeDir {
			out = append(out, k)
		}
	}
	for _, k := range n.kids {
		if k.info.Type == TypeDir {
			out = subtree(k, out)
		}
	}
	return append(out, n)
}
