package cleanup

import "slices"

// What dropping a Hugging Face revision removes (see LayoutHuggingFace).

// dropRevision plans a whole revision (with the rest of the repository
// when it is the last one), unless it is held, this process may not remove
// all of it, or the cap would cut it in half.
func (p *planner) dropRevision(rv *revision, total *int64) {
	if rv.held {
		p.rep.skip(SkipReasonHeldRev)
		return
	}
	if rv.denied || rv.unknown || rv.kept {
		return
	}
	ks := p.revisionNodes(rv)
	rp := rv.repo
	if !rp.w.mayDrop(ks...) {
		rv.denied = true
		return
	}
	if p.s.MaxDeletions > 0 && len(p.rep.items)+len(ks) > p.s.MaxDeletions {
		p.rep.skip(SkipReasonCap)
		return
	}
	for _, k := range ks {
		k.planned = true
		if k.blob {
			*total -= k.info.Size
		}
		p.emit(rp.w.nodeItem(k, ReasonRevision))
	}
	rv.gone = true
}

// revisionNodes returns what dropping rv removes, in order: its snapshot
// folder and the blobs no other kept revision links to, with the refs
// naming it; when it is the last revision, the rest of the repository.
// Nothing already planned is returned again, and what must stay (see
// keepNode) stays with the directories holding it.
func (p *planner) revisionNodes(rv *revision) []*hnode {
	rp := rv.repo
	own := map[*hnode]bool{} // the revision's content: aged by rv.used
	keptBlobs := map[string]bool{}
	last := true
	for _, o := range rp.revs {
		if o != rv && !o.gone {
			last = false
			for _, b := range o.blobs {
				keptBlobs[b] = true
			}
		}
	}
	var bl []string
	for _, b := range rv.blobs {
		own[rp.blobs[b]] = true
		if !keptBlobs[b] {
			bl = append(bl, b)
		}
	}
	markLinks(rv.snap, own)
	for _, ref := range rp.refs {
		if ref.target == rv.name {
			own[ref] = true
		}
	}
	if last {
		ks, _ := p.dropTree(rp.w, rp.node, own, nil)
		return ks
	}
	ks, _ := p.dropTree(rp.w, rv.snap, own, nil)
	slices.Sort(bl)
	for _, b := range bl {
		if k := rp.blobs[b]; !k.planned && !p.keepNode(rp.w, k, own) {
			ks = append(ks, k)
		}
	}
	for _, ref := range rp.refs {
		if ref.target == rv.name && !ref.planned && !p.keepNode(rp.w, ref, own) {
			ks = append(ks, ref)
		}
	}
	return ks
}

// markLinks adds the symlinks under a snapshot folder to own.
func markLinks(n *hnode, own map[*hnode]bool) {
	for _, k := range n.kids {
		switch k.info.Type {
		case TypeSymlink:
			own[k] = true
		case TypeDir:
			markLinks(k, own)
		}
	}
}

// keepNode reports whether the file or symlink k must stay when its
// revision goes: it is pinned, held, or (not being the revision's own
// content: its links, blobs and refs, aged as a whole) younger than
// OlderThan.
func (p *planner) keepNode(w *walk, k *hnode, own map[*hnode]bool) bool {
	if k.pinned || p.heldNode(k) {
		return true
	}
	if own[k] || w.cutoff == 0 {
		return false
	}
	_, old := w.old(k.info)
	return !old
}

// dropTree appends to out what removing n and everything below it takes,
// contents first, leaving out what is already planned and what must stay;
// it reports whether n itself goes.
func (p *planner) dropTree(w *walk, n *hnode, own map[*hnode]bool, out []*hnode) ([]*hnode, bool) {
	if n.pinned || p.heldNode(n) {
		return out, false
	}
	goes := true
	for _, k := range n.kids {
		if k.info.Type != TypeDir {
			switch {
			case k.planned:
			case p.keepNode(w, k, own):
				goes = false
			default:
				out = append(out, k)
			}
		}
	}
	for _, k := range n.kids {
		if k.info.Type == TypeDir {
			var kg bool
			if out, kg = p.dropTree(w, k, own, out); !kg {
				goes = false
			}
		}
	}
	if goes && !n.planned {
		out = append(out, n)
	}
	return out, goes
}

// mayDrop reports whether this process may remove every node in ks from
// its directory; when not, the first it may not is recorded as denied.
func (w *walk) mayDrop(ks ...*hnode) bool {
	if w.p.id == nil {
		return true
	}
	for _, k := range ks {
		if !w.p.id.mayRemove(w.dirInfo[k.dir], k.info.UID) {
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
