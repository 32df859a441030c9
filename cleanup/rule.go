package cleanup

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Layout says how a root is organised.
type Layout string

// Layouts.
const (
	// LayoutPlain sweeps files one by one by age (the default).
	LayoutPlain Layout = "plain"
	// LayoutHuggingFace treats the root as a Hugging Face hub cache
	// (models--ORG--NAME/{blobs,snapshots,refs}) and deletes whole revisions.
	LayoutHuggingFace Layout = "huggingface"
	// LayoutEntries treats each child of the root as one entry (a compile
	// cache's kernel directory, a package): a directory is aged by the
	// newest use of anything inside it and deleted whole or not at all.
	LayoutEntries Layout = "entries"
)

// AgeBasis says which timestamp gives an entry its age.
type AgeBasis string

// Age bases.
const (
	// AgeBasisAtime ages entries by their last access (the default).
	AgeBasisAtime AgeBasis = "atime"
	// AgeBasisMtime ages entries by their last modification.
	AgeBasisMtime AgeBasis = "mtime"
	// AgeBasisNewest ages entries by the newest of atime, mtime and ctime, as
	// systemd-tmpfiles does (ctime is ignored for directories).
	AgeBasisNewest AgeBasis = "newest"
)

// Rule is one root and the policy applied under it.
//
// An entry is deleted when it is older than OlderThan by the Age timestamp,
// is a file, a symlink (the link itself, never its target) or a directory
// that is empty once its contents are gone, and no filter keeps it:
//
//   - Exclude and Include hold globs (path.Match syntax). A glob without "/"
//     matches an entry's base name at any depth ("*.lock"); a glob with a
//     leading "/" is anchored to the root ("/hub" is ROOT/hub only); any
//     other glob with "/" matches the path relative to the root
//     ("hub/*/blobs"). An excluded entry is kept and an excluded directory
//     is not entered. When Include is set only entries matching it, or
//     inside a directory matching it, are deleted.
//   - Within, when set, limits deletion to the contents of directories with
//     one of those base names (".ipynb_checkpoints") anywhere under Root;
//     the directories themselves stay. Only such a rule may have the home
//     directory itself as its root.
//
// KeepRefs, with LayoutHuggingFace only, names refs (refs/main: "main",
// refs/pr/1: "pr/1") whose revisions stay whatever their age, with the
// blobs they link, so that a container serving offline (HF_HUB_OFFLINE=1)
// still finds the model it loads by name; a repository holding such a ref
// is never deleted whole.
//
// A zero OlderThan means "no age limit", which is allowed only together
// with KeepUnder (a pure size budget); a negative one is an error.
// KeepUnder, when positive, is a size budget: after the age rule, the least
// recently used files (by Age) are deleted until the files under Root add
// up to at most KeepUnder bytes. A missing Root is an error unless
// MissingOK, which makes it a note in the report.
type Rule struct {
	Root      string        `json:"root"`
	Layout    Layout        `json:"layout,omitempty"`
	OlderThan time.Duration `json:"older_than,omitempty"`
	Age       AgeBasis      `json:"age,omitempty"`
	KeepUnder int64         `json:"keep_under,omitempty"`
	Include   []string      `json:"include,omitempty"`
	Exclude   []string      `json:"exclude,omitempty"`
	Within    []string      `json:"within,omitempty"`
	KeepRefs  []string      `json:"keep_refs,omitempty"`
	MissingOK bool          `json:"missing_ok,omitempty"`
}

// ErrDangerousRoot is returned (wrapped) for a root that must never be swept:
// "/", a system directory such as /usr or /etc, /home, or the home
// directory itself (unless the rule has Within).
var ErrDangerousRoot = errors.New("dangerous root")

// ErrBadRule is returned (wrapped) for a rule that makes no sense: a
// relative root, a negative threshold, no threshold and no budget, a bad
// glob, an unknown layout or age basis.
var ErrBadRule = errors.New("bad rule")

var dangerousRoots = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true,
	"/lib": true, "/lib32": true, "/lib64": true, "/libx32": true, "/media": true, "/mnt": true,
	"/opt": true, "/proc": true, "/root": true, "/run": true, "/sbin": true, "/srv": true,
	"/sys": true, "/usr": true, "/var": true, "/snap": true, "/nix": true,
	"/usr/bin": true, "/usr/lib": true, "/usr/lib64": true, "/usr/local": true, "/usr/sbin": true,
	"/usr/share": true, "/usr/include": true, "/usr/src": true, "/usr/local/bin": true,
	"/usr/local/lib": true, "/var/lib": true, "/var/log": true, "/var/spool": true, "/var/mail": true,
	"/var/cache": true, "/var/run": true, "/workspace": true, "/data": true,
}

// checkRoot refuses dangerous roots; resolved is the root with symlinks in
// its parents resolved ("" when unknown).
func checkRoot(r Rule, home, resolved string) error {
	for _, p := range []string{r.Root, resolved} {
		if p == "" {
			continue
		}
		if home != "" && home != "/" && p == home && len(r.Within) > 0 {
			// $HOME itself, for checkpoint-style rules, even when it is
			// /root: only the contents of the Within directories go.
			continue
		}
		if dangerousRoots[p] {
			return fmt.Errorf("sweep %s: %w: a system directory", r.Root, ErrDangerousRoot)
		}
		if home != "" && home != "/" {
			if p == home && len(r.Within) == 0 {
				return fmt.Errorf("sweep %s: %w: the home directory itself (only a rule with within may use it)", r.Root, ErrDangerousRoot)
			}
			if p != home && strings.HasPrefix(home, p+"/") {
				return fmt.Errorf("sweep %s: %w: it holds the home directory %s", r.Root, ErrDangerousRoot, home)
			}
		}
	}
	return nil
}

// check is Validate with the root named first, as the sweep reports it.
func (r Rule) check() error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sweep %s: %w", r.Root, err)
	}
	return nil
}

// ageOf returns the timestamp that ages info under basis.
func ageOf(basis AgeBasis, info Info) time.Time {
	switch basis {
	case AgeBasisMtime:
		return info.Mtime
	case AgeBasisNewest:
		t := info.Atime
		if info.Mtime.After(t) {
			t = info.Mtime
		}
		if info.Type != TypeDir && info.Ctime.After(t) {
			t = info.Ctime
		}
		return t
	default:
		return info.Atime
	}
}

// globs is a compiled list of include or exclude patterns.
type globs struct {
	base []string // no "/": match the base name
	rel  []string // match the path relative to the root
}

func compileGlobs(pats []string) globs {
	var g globs
	for _, p := range pats {
		switch {
		case strings.HasPrefix(p, "/"):
			g.rel = append(g.rel, strings.TrimPrefix(p, "/"))
		case strings.Contains(p, "/"):
			g.rel = append(g.rel, p)
		default:
			g.base = append(g.base, p)
		}
	}
	return g
}

func (g globs) empty() bool { return len(g.base) == 0 && len(g.rel) == 0 }

// match reports whether the entry name in the directory dir (relative to
// the root) matches; the relative path is built only when a pattern needs it.
func (g globs) match(name, dir string) bool {
	for _, p := range g.base {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	if len(g.rel) > 0 {
		r := join(dir, name)
		for _, p := range g.rel {
			if ok, _ := path.Match(p, r); ok {
				return true
			}
		}
	}
	return false
}
