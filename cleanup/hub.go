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
// repository goes, the rest of the repository folder goes with it. A
// revision linking into a blobs folder that cannot be read stays (its last
// use is unknown; the folder is named in the errors). A
// revision's snapshot links, blobs and refs are aged as one, by its blobs. A
// revision with a blob or snapshot file held open, mapped or locked by a
// process is kept whole. Anything else inside a repository that is held,
// younger than OlderThan (a download in progress: blobs/*.incomplete, a
// fresh ref), protected (Sweeper.Protect), excluded (Rule.Exclude), a
// mount point, or not a file, symlink or directory (a FIFO, a socket)
// stays, and so do the directories holding it; directories are
// not aged themselves. Stale .incomplete blobs and .lock files go by their
// own age unless held. With KeepUnder, least recently used revisions go
// next until the blobs fit the budget. Each entry is planned at most once.

// hnode is one scanned entry of a repository.
type hnode struct {
	name   string
	info   Info
	dir    int32 // the directory holding it
	self   int32 // for a directory: its own index
	kids   []*hnode
	target string // symlink target, or a ref file's content
	// pinned: must stay whatever the policy (a mount point, a special
	// file, a directory not (fully) read, entered or examined).
	pinned bool
	// planned: already in the plan (each entry is planned once).
	planned bool
	// blob: a complete blob (blobs/HASH) whose size counts for KeepUnder.
	blob bool
}

// revision is one snapshot of a repository.
type revision struct {
	repo  *hrepo
	name  string
	snap  *hnode
	blobs []string
	used  int64
	held  bool
	gone  bool
	// unknown: it links into a blobs folder that could not be read, so
	// its last use is unknown: it stays.
	unknown bool
	// denied: this process may not remove all of it (named in the errors).
	denied bool
	// kept: a ref named in Rule.KeepRefs points to it (see keepRefs).
	kept bool
}

type hrepo struct {
	node  *hnode
	blobs map[string]*hnode // by name in blobs/
	// blobsUnread: blobs/ is there but could not be read or entered.
	blobsUnread bool
	refs        []*hnode // ref files, with their content in target
	revs        []*revision
	w           *walk
}

// hub plans a Hugging Face hub root: scan, plan stale downloads and locks,
// then old revisions, then revisions over the budget.
func (p *planner) hub(ri int32, r Rule, basis AgeBasis, resolved string, d Dir, di int32, info Info) error {
	w := newWalk(p, ri, r, basis, resolved)
	w.rootDev = info.Dev
	w.dirInfo = map[int32]Info{di: info}
	defer w.use.report(&p.rep.Roots[ri])
	root := &hnode{name: r.Root, self: di, dir: -1}
	if err := p.scanTree(w, d, root, "", 0); err != nil {
		return err
	}
	var repos []*hrepo
	for _, k := range root.kids {
		switch {
		case k.info.Type == TypeDir && !k.pinned && isRepoDir(k.name):
			rp := p.hubRepo(w, k)
			keepRefs(rp, r.KeepRefs)
			repos = append(repos, rp)
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

func isRepoDir(name string) bool {
	return strings.HasPrefix(name, "models--") || strings.HasPrefix(name, "datasets--") || strings.HasPrefix(name, "spaces--")
}

// scanTree reads the directory n (open as d, at rel below the root) and
// everything below it. What it cannot read, examine or enter is pinned,
// with the directory holding it.
func (p *planner) scanTree(w *walk, d Dir, n *hnode, rel string, depth int) error {
	defer d.Close()
	names, err := d.ReadDir()
	switch {
	case errGone(err):
		n.pinned = true // removed since it was opened: gone, not a failure
		return nil
	case err != nil:
		n.pinned = true
		return fmt.Errorf("sweep %s: read %s: %w", w.r.Root, p.rep.dirPath(n.self), err)
	}
	slices.Sort(names)
	for _, name := range names {
		info, err := d.Lstat(name)
		if err != nil {
			if !errGone(err) {
				n.pinned = true
				p.errs = errAppend(p.errs, fmt.Errorf("sweep %s: stat %s/%s: %w", w.r.Root, p.rep.dirPath(n.self), name, err))
			}
			continue
		}
		p.rep.Scanned++
		p.rep.Roots[w.ri].Scanned++
		if info.Type == TypeFile {
			w.use.file(w.use.entry(topEntry(rel, name, false)), info, ageOf(w.basis, info).UnixNano())
		}
		k := &hnode{name: name, info: info, dir: n.self, self: -1}
		n.kids = append(n.kids, k)
		switch {
		case w.exclude.match(name, rel):
			k.pinned = true // kept, and an excluded directory is not entered
			p.rep.skip(SkipReasonExcluded)
			continue
		case len(w.protect) > 0 && w.protect[join(rel, name)]:
			k.pinned = true
			p.rep.skip(SkipReasonProtected)
			continue
		}
		switch info.Type {
		case TypeSymlink:
			k.target, _ = d.Readlink(name)
		case TypeFile:
			if isRefsDir(rel) {
				b, _ := d.ReadFile(name, 256)
				k.target = strings.TrimSpace(string(b))
			}
		case TypeOther:
			k.pinned = true // sockets, FIFOs and devices are never deleted
		case TypeDir:
			p.scanDir(w, d, k, join(rel, name), depth)
		}
	}
	return nil
}

// scanDir enters the subdirectory k of d unless it is a mount point (by
// mountinfo or device), nested too deep, or not the directory examined.
func (p *planner) scanDir(w *walk, d Dir, k *hnode, rel string, depth int) {
	k.pinned = true // until it is entered
	switch {
	case w.mounts[rel] || k.info.Dev != w.rootDev:
		p.rep.skip(SkipReasonMount)
		return
	case depth > 32: // no hub folder nests this deep
		p.rep.skip(SkipReasonTooDeep)
		return
	}
	sub, err := d.OpenDir(k.name)
	if err != nil {
		if !errGone(err) && !errNotDir(err) {
			p.errs = errAppend(p.errs, fmt.Errorf("sweep %s: open %s/%s: %w", w.r.Root, p.rep.dirPath(k.dir), k.name, err))
		}
		return
	}
	if got, err := sub.Stat(); err != nil || got.Ino != k.info.Ino || got.Dev != k.info.Dev {
		sub.Close()
		p.rep.skip(SkipReasonChanged)
		return
	}
	k.pinned = false
	p.rep.dirs = append(p.rep.dirs, dirRec{parent: k.dir, root: w.ri, name: k.name, dev: k.info.Dev, ino: k.info.Ino})
	k.self = int32(len(p.rep.dirs) - 1)
	w.dirInfo[k.self] = k.info
	if err := p.scanTree(w, sub, k, rel, depth+1); err != nil {
		p.errs = errAppend(p.errs, err)
	}
}

// isRefsDir reports whether the directory at rel (below the root) is a
// repository's refs folder or one below it (refs/pr/1).
func isRefsDir(rel string) bool {
	parts := strings.SplitN(rel, "/", 3)
	return len(parts) >= 2 && isRepoDir(parts[0]) && parts[1] == "refs"
}

func (n *hnode) kid(name string) *hnode {
	for _, k := range n.kids {
		if k.name == name && k.info.Type == TypeDir && !k.pinned {
			return k
		}
	}
	return nil
}

// hubRepo reads one repository: its blobs (planning stale .incomplete
// ones), refs and revisions.
func (p *planner) hubRepo(w *walk, n *hnode) *hrepo {
	rp := &hrepo{node: n, blobs: map[string]*hnode{}, w: w}
	p.repoBlobs(rp)
	if refs := n.kid("refs"); refs != nil {
		rp.refs = refFiles(refs, rp.refs)
	}
	if snaps := n.kid("snapshots"); snaps != nil {
		for _, s := range snaps.kids {
			if s.info.Type == TypeDir && !s.pinned {
				rp.revs = append(rp.revs, p.repoRevision(rp, s))
			}
		}
	}
	return rp
}

// repoBlobs indexes the complete blobs of rp and plans its stale partial
// downloads (old, not held).
func (p *planner) repoBlobs(rp *hrepo) {
	b := rp.node.kid("blobs")
	if b == nil {
		for _, k := range rp.node.kids {
			rp.blobsUnread = rp.blobsUnread || k.name == "blobs" && k.info.Type == TypeDir && k.pinned
		}
		return
	}
	w := rp.w
	for _, k := range b.kids {
		if k.info.Type != TypeFile {
			continue
		}
		if !strings.HasSuffix(k.name, ".incomplete") {
			k.blob = true
			rp.blobs[k.name] = k
			continue
		}
		if _, old := w.old(k.info); old && !k.pinned && !p.heldNode(k) && !p.capped() && w.mayDrop(k) {
			k.planned = true
			p.emit(w.nodeItem(k, ReasonIncomplete))
		}
	}
}

// refFiles appends the ref files under x (refs/main, refs/pr/1).
func refFiles(x *hnode, out []*hnode) []*hnode {
	for _, k := range x.kids {
		switch {
		case k.info.Type == TypeDir && !k.pinned:
			out = refFiles(k, out)
		case k.info.Type == TypeFile:
			out = append(out, k)
		}
	}
	return out
}

// repoRevision reads the snapshot folder s: the blobs it links to, its
// last use and whether a process holds any of it.
func (p *planner) repoRevision(rp *hrepo, s *hnode) *revision {
	w := rp.w
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
				b, ok := strings.CutPrefix(tp, "blobs/")
				rv.unknown = rv.unknown || ok && rp.blobsUnread
				if ok && rp.blobs[b] != nil && !seen[b] {
					seen[b] = true
					rv.blobs = append(rv.blobs, b)
				}
			case TypeFile:
				if p.heldNode(k) {
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
		bn := rp.blobs[b]
		rv.used = max(rv.used, ageOf(w.basis, bn.info).UnixNano())
		if p.heldNode(bn) {
			rv.held = true
		}
	}
	return rv
}

// heldNode reports whether a process holds k open, mapped or locked.
func (p *planner) heldNode(k *hnode) bool { return p.held.isOpen(k.info) || p.held.isLocked(k.info) }

// hubLocks plans old, unheld .lock files under .locks.
func (p *planner) hubLocks(w *walk, n *hnode) {
	for _, k := range n.kids {
		switch {
		case k.info.Type == TypeDir && !k.pinned:
			p.hubLocks(w, k)
		case k.info.Type == TypeFile:
			_, old := w.old(k.info)
			switch {
			case !old || k.pinned:
			case p.heldNode(k):
				p.rep.skip(SkipReasonLocked)
			case !p.capped() && w.mayDrop(k):
				k.planned = true
				p.emit(w.nodeItem(k, ReasonAge))
			}
		}
	}
}
