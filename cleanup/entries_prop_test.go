package cleanup_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
)

// entriesMaxDepth mirrors the documented bound: a directory nested this
// deep below the root (or deeper) keeps its entry whole.
const entriesMaxDepth = 64

// entriesOracle returns what a rule of LayoutEntries deletes under root,
// in the documented order, written from its documentation: each child of
// the root is one entry, in name order. A child file goes when old and not
// held, a child symlink when old, nothing else alone. A child directory
// goes whole (files and symlinks of each directory, then its
// subdirectories, each directory after its contents, the entry last) when
// the newest use inside it (files and symlinks by the rule's age, every
// directory by its mtime) is older than the cutoff and nothing inside it
// is held, special, excluded, protected, unreadable, too deep or not
// removable by the user.
func entriesOracle(root *snode, c *oracleCfg) []string {
	var out []string
	if !c.visible(root) {
		return nil
	}
	for _, k := range root.kids {
		switch {
		case c.excluded(k):
		case !k.isDir():
			if plainEntryGoes(root, k, c) {
				out = append(out, k.rel)
			}
		default:
			var use int64
			if c.canUnlink(&root.st, &k.st) && c.entryWhole(k, 1, &use) && use < c.cutoff {
				out = c.entryOrder(k, out)
				out = append(out, k.rel)
			}
		}
	}
	return out
}

// entryWhole reports whether everything under the directory d (level
// below the root) may go with it, raising *use to the newest use seen.
func (c *oracleCfg) entryWhole(d *snode, level int, use *int64) bool {
	*use = max(*use, d.st.Mtim.Nano())
	if !c.visible(d) {
		return false
	}
	for _, k := range d.kids {
		if c.excluded(k) || !c.canUnlink(&d.st, &k.st) {
			return false
		}
		switch k.st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if c.isHeld(&k.st) {
				return false
			}
			*use = max(*use, c.fileUse(&k.st))
		case unix.S_IFLNK:
			*use = max(*use, c.fileUse(&k.st))
		case unix.S_IFDIR:
			if level >= entriesMaxDepth || !c.entryWhole(k, level+1, use) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (c *oracleCfg) fileUse(st *unix.Stat_t) int64 {
	if c.atime {
		return st.Atim.Nano()
	}
	return st.Mtim.Nano()
}

// entryOrder appends d's contents in deletion order.
func (c *oracleCfg) entryOrder(d *snode, out []string) []string {
	for _, k := range d.kids {
		if !k.isDir() {
			out = append(out, k.rel)
		}
	}
	for _, k := range d.kids {
		if k.isDir() {
			out = append(c.entryOrder(k, out), k.rel)
		}
	}
	return out
}

// checkEntries sweeps the seed's plain tree with LayoutEntries: dry run =
// oracle = what the real run removed, listed and logged, as root (with a
// file held open) or as nobody.
func checkEntries(t *testing.T, seed uint64, opts genOpts, asNobody bool) {
	base := propBase(t)
	now := time.Now()
	outside := filepath.Join(base, "outside")
	outSnap := makeOutside(t, outside, now)
	root := filepath.Join(base, "entries")
	c, rule, protect, snap := plainCase(t, root, newGen(seed, opts, outside), seed, now, asNobody)
	rule.Layout = cleanup.LayoutEntries
	want := entriesOracle(snap, c)
	cfg := propChildCfg{Rules: []cleanup.Rule{rule}, Protect: protect, Workers: 16, Dry: true}
	dry := runChild(t, cfg, asNobody)
	sameList(t, fmt.Sprintf("seed %d entries nobody %v: dry run vs oracle", seed, asNobody), want, relPaths(root, itemPaths(dry.Items)))
	cfg.Dry = false
	real := runChild(t, cfg, asNobody)
	checkRun(t, root, want, snap.flatten(), real)
	assert.Equal(t, dry.Errors, real.Errors, "the dry run names the errors the real run meets")
	if !asNobody {
		for _, e := range real.Errors {
			assert.Contains(t, e, "nested deeper than", "as root the only error is the chain past the depth bound")
		}
	}
	sameList(t, "outside the roots", sorted(keys(outSnap.flatten())), sorted(keys(snapshot(t, outside).flatten())))
	t.Logf("seed %d entries nobody %v: %d entries, %d planned, %d errors", seed, asNobody, len(snap.flatten()), len(want), len(dry.Errors))
	if len(want) == 0 && !strings.Contains(t.Name(), "nobody") {
		t.Logf("seed %d: the oracle plans nothing: a weak case", seed)
	}
}
