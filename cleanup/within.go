package cleanup

// A rule with Within deletes only inside directories of those names, so
// outside them the walk looks for directories alone: the listing's d_type
// tells them apart, and the files, symlinks and special files beside them
// are never described (no fstatat). On a home of 150,000 files holding a
// few .ipynb_checkpoints, a plan costs one getdents and one fstat per
// directory, not a stat per file. A directory is still opened with
// O_NOFOLLOW and described by fstat on its open descriptor before its
// listing is read (the mount and lock checks); a mount point mountinfo
// names is not even opened. An entry whose type the listing does not give
// (DT_UNKNOWN) is described as before.

// listOnly reports whether the entries of f that the listing says are not
// directories can be left undescribed: f is outside the rule's Within
// directories (nothing in it may go) and nothing needs every file's size
// (KeepUnder counts the whole root).
func (w *walk) listOnly(f *frame) bool {
	return len(w.within) > 0 && !f.inWithin && w.r.KeepUnder == 0
}

// unstated counts the entry name of f, a non-directory outside the
// Within directories, without describing it: it stays, whatever it is.
func (w *walk) unstated(f *frame, name string) {
	w.p.rep.Scanned++
	w.p.rep.Roots[w.ri].Scanned++
	switch {
	case w.match(w.exclude, f, name):
		w.keep(f, SkipReasonExcluded)
	case f.depth < w.relDepth && len(w.protect) > 0 && w.protect[join(f.rel, name)]:
		w.keep(f, SkipReasonProtected)
	default:
		w.keep(f, "")
	}
}
