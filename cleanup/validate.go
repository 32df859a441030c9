package cleanup

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/tendkit/tend/internal/fielderr"
)

// FieldError is one bad field found by a Validate method: Field is named
// as the config file spells it ("older_than", "include[2]"), Value is the
// bad value and Reason what is wrong. It is the same type in every tend
// package, so one errors.As finds it whichever package returned it.
type FieldError = fielderr.Error

// Validate checks the rule on its own, before anything is read: an
// absolute root that is not a system directory, no negative threshold,
// an age limit or a size budget (or both), a known layout and age basis,
// well-formed globs and directory base names for Within, KeepRefs only
// with LayoutHuggingFace and naming valid git refs, Within only with the
// plain layout. It returns every
// problem at once (errors.Join of *FieldError, each wrapping ErrBadRule or
// ErrDangerousRoot), or nil. What depends on the machine (the home
// directory, symlinks in the root's parents, a system directory as the
// root of a rule with Within) is checked when sweeping.
func (r Rule) Validate() error {
	var l fielderr.List
	bad := func(field, value, format string, args ...any) {
		l.Wrap(field, value, ErrBadRule, format, args...)
	}
	switch {
	case r.Root == "" || !filepath.IsAbs(r.Root):
		bad("root", r.Root, "%q is not an absolute path", r.Root)
	case dangerousRoots[filepath.Clean(r.Root)] && len(r.Within) == 0:
		// With Within the home directory may be a root even when it is a
		// system directory (/root): the sweep decides, knowing the home.
		l.Wrap("root", r.Root, ErrDangerousRoot, "%q is a %v: a system directory", r.Root, ErrDangerousRoot)
	}
	if r.OlderThan < 0 {
		bad("older_than", r.OlderThan.String(), "%v is negative", r.OlderThan)
	}
	if r.KeepUnder < 0 {
		bad("keep_under", fmt.Sprint(r.KeepUnder), "%d is negative", r.KeepUnder)
	}
	if r.OlderThan == 0 && r.KeepUnder == 0 {
		bad("", "", "older_than is 0 and there is no keep_under budget (write older_than: 1s to delete everything)")
	}
	switch r.Layout {
	case "", LayoutPlain, LayoutHuggingFace, LayoutEntries:
	default:
		bad("layout", string(r.Layout), "%q is not one of plain, huggingface, entries", r.Layout)
	}
	r.validateLayoutFields(bad)
	switch r.Age {
	case "", AgeBasisAtime, AgeBasisMtime, AgeBasisNewest:
	default:
		bad("age", string(r.Age), "%q is not one of atime, mtime, newest", r.Age)
	}
	for _, list := range []struct {
		name  string
		globs []string
	}{{"include", r.Include}, {"exclude", r.Exclude}} {
		for i, g := range list.globs {
			if g == "" {
				bad(fmt.Sprintf("%s[%d]", list.name, i), g, "bad glob %q: an empty glob matches nothing", g)
			} else if _, err := path.Match(strings.TrimPrefix(g, "/"), ""); err != nil {
				bad(fmt.Sprintf("%s[%d]", list.name, i), g, "bad glob %q: %v", g, err)
			}
		}
	}
	for i, w := range r.Within {
		if w == "" || strings.Contains(w, "/") || w == "." || w == ".." {
			bad(fmt.Sprintf("within[%d]", i), w, "%q is not a directory base name", w)
		}
	}
	return l.Err()
}
