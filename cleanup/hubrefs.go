package cleanup

import (
	"fmt"
	"strings"
)

// Keeping the revisions that named refs point to (Rule.KeepRefs, layout
// huggingface): a container serving offline (HF_HUB_OFFLINE=1) resolves
// the model it loads by name through refs/main, so the revision it names
// must stay whatever its age.

// keepRefs marks the revisions of rp that a ref named in names points to
// as kept, and pins those ref files, so that the repository is never
// deleted whole (even when the ref names a revision that is not there).
func keepRefs(rp *hrepo, names []string) {
	if len(names) == 0 {
		return
	}
	refs := rp.node.kid("refs")
	if refs == nil {
		return
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var walk func(x *hnode, rel string)
	walk = func(x *hnode, rel string) {
		for _, k := range x.kids {
			switch {
			case k.info.Type == TypeDir && !k.pinned:
				walk(k, join(rel, k.name))
			case k.info.Type == TypeFile && want[join(rel, k.name)]:
				k.pinned = true
				for _, rv := range rp.revs {
					if rv.name == k.target {
						rv.kept = true
					}
				}
			}
		}
	}
	walk(refs, "")
}

// validRefName reports why name is not a valid git ref name below refs/
// (git check-ref-format's rules), or "" when it is.
func validRefName(name string) string {
	switch {
	case name == "":
		return "an empty ref name"
	case name == "@":
		return `"@" is not a ref name`
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return "a ref name neither starts nor ends with /"
	case strings.HasSuffix(name, "."):
		return "a ref name does not end with ."
	case strings.Contains(name, "//"):
		return "a ref name has no empty component (//)"
	case strings.Contains(name, ".."):
		return "a ref name has no .."
	case strings.Contains(name, "@{"):
		return "a ref name has no @{"
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return fmt.Sprintf("%q is not allowed in a ref name", c)
		}
	}
	for comp := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(comp, ".") || strings.HasSuffix(comp, ".lock") {
			return fmt.Sprintf("component %q starts with . or ends with .lock", comp)
		}
	}
	return ""
}

// validateLayoutFields checks the fields that only some layouts take.
func (r Rule) validateLayoutFields(bad func(field, value, format string, args ...any)) {
	if len(r.KeepRefs) > 0 && r.Layout != LayoutHuggingFace {
		bad("keep_refs", strings.Join(r.KeepRefs, ","), "keep_refs needs layout huggingface (the layout is %q)", basisLayout(r.Layout))
	}
	for i, n := range r.KeepRefs {
		if why := validRefName(n); why != "" {
			bad(fmt.Sprintf("keep_refs[%d]", i), n, "%q is not a ref name: %s", n, why)
		}
	}
	if len(r.Within) > 0 && r.Layout != "" && r.Layout != LayoutPlain {
		bad("within", strings.Join(r.Within, ","), "within works file by file: not with layout %s", r.Layout)
	}
}

func basisLayout(l Layout) Layout {
	if l == "" {
		return LayoutPlain
	}
	return l
}
