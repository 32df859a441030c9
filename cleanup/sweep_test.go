package cleanup_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time { return now.Add(-time.Duration(d * float64(24*time.Hour))) }

func fakeSweeper(t *testing.T, f *cleanuptest.FS, rules ...cleanup.Rule) *cleanup.Sweeper {
	return &cleanup.Sweeper{Rules: rules, FS: f, Proc: t.TempDir(), Home: "/home/u", Now: func() time.Time { return now }}
}

func paths(items []cleanup.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Path)
	}
	return out
}

func TestPolicy(t *testing.T) {
	f := cleanuptest.New()
	f.Mkdir("/c", daysAgo(30))
	f.WriteFile("/c/old", 10, daysAgo(30))
	f.WriteFile("/c/new", 10, daysAgo(1))
	f.WriteFile("/c/x.lock", 10, daysAgo(30))
	f.WriteFile("/c/sub/a", 1, daysAgo(9))
	f.WriteFile("/c/sub/deeper/b", 2, daysAgo(9))
	f.Mkdir("/c/sub/deeper", daysAgo(9))
	f.Mkdir("/c/sub", daysAgo(9))
	f.WriteFile("/c/keep/k", 1, daysAgo(9))
	f.WriteFile("/c/keep/fresh", 1, daysAgo(0))
	f.Mkdir("/c/keep", daysAgo(9))
	f.Mkdir("/c/emptyold", daysAgo(20))
	f.Mkdir("/c/emptynew", daysAgo(0))
	f.Symlink("/etc/passwd", "/c/oldlink", daysAgo(20))
	f.Symlink("/etc", "/c/newlink", daysAgo(0))
	f.Mkfifo("/c/fifo", daysAgo(30))
	f.Mount("/c/mnt", daysAgo(30))
	f.WriteFile("/c/mnt/m", 1, daysAgo(30))
	f.WriteFile("/c/ex/inside", 1, daysAgo(30))
	f.WriteFile("/c/prot/p", 1, daysAgo(30))

	s := fakeSweeper(t, f, cleanup.Rule{Root: "/c", OlderThan: 7 * 24 * time.Hour, Exclude: []string{"*.lock", "/ex"}})
	s.Protect = []string{"/c/prot"}
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	want := []string{"/c/old", "/c/oldlink", "/c/emptyold", "/c/keep/k", "/c/sub/a", "/c/sub/deeper/b", "/c/sub/deeper", "/c/sub"}
	assert.Equal(t, want, paths(plan.Items()))
	assert.True(t, plan.DryRun)
	assert.EqualValues(t, 14, plan.Bytes)
	assert.Equal(t, 1, plan.Skipped[cleanup.SkipReasonMount])
	assert.Equal(t, 1, plan.Skipped[cleanup.SkipReasonSpecial])
	assert.Equal(t, 2, plan.Skipped[cleanup.SkipReasonExcluded])
	assert.Equal(t, 1, plan.Skipped[cleanup.SkipReasonProtected])
	assert.Equal(t, 1, plan.Skipped[cleanup.SkipReasonSymlink])
	assert.True(t, f.Exists("/c/old"), "a plan deletes nothing")

	rep, err := s.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.False(t, rep.DryRun)
	assert.Equal(t, want, paths(rep.Items()), "the report lists what the plan did, in its order")
	assert.Equal(t, plan.Bytes, rep.Bytes)
	for _, p := range want {
		assert.False(t, f.Exists(p), p)
	}
	for _, p := range []string{"/c", "/c/new", "/c/x.lock", "/c/keep/fresh", "/c/emptynew", "/c/newlink", "/c/fifo", "/c/mnt/m", "/c/ex/inside", "/c/prot/p"} {
		assert.True(t, f.Exists(p), p)
	}
}

func TestIncludeWithinCapBudget(t *testing.T) {
	build := func() *cleanuptest.FS {
		f := cleanuptest.New()
		f.WriteFile("/h/proj/.ipynb_checkpoints/nb-checkpoint.ipynb", 5, daysAgo(10))
		f.WriteFile("/h/proj/.ipynb_checkpoints/fresh.ipynb", 5, daysAgo(1))
		f.Mkdir("/h/proj/.ipynb_checkpoints", daysAgo(10))
		f.WriteFile("/h/proj/notebook.ipynb", 5, daysAgo(100))
		f.WriteFile("/h/proj/model.pt", 5, daysAgo(100))
		f.Mkdir("/h/proj", daysAgo(100))
		return f
	}
	f := build()
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/home/u", Within: []string{".ipynb_checkpoints"}, OlderThan: 7 * 24 * time.Hour})
	_, err := s.Plan(context.Background())
	require.Error(t, err, "/home/u does not exist in the fake")
	s.Home = "/h"
	s.Rules[0].Root = "/h"
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/h/proj/.ipynb_checkpoints/nb-checkpoint.ipynb"}, paths(plan.Items()), "within: only checkpoint contents; the checkpoint dir stays")

	s.Rules[0] = cleanup.Rule{Root: "/h/proj", Include: []string{"*.pt"}, OlderThan: 7 * 24 * time.Hour}
	plan, err = s.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/h/proj/model.pt"}, paths(plan.Items()))

	s.Rules[0] = cleanup.Rule{Root: "/h/proj", OlderThan: 7 * 24 * time.Hour}
	s.MaxDeletions = 2
	plan, err = s.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/h/proj/model.pt", "/h/proj/notebook.ipynb"}, paths(plan.Items()))
	assert.Equal(t, 1, plan.Skipped[cleanup.SkipReasonCap])

	s.MaxDeletions = 0
	s.Rules[0] = cleanup.Rule{Root: "/h/proj", KeepUnder: 10}
	plan, err = s.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/h/proj/model.pt", "/h/proj/notebook.ipynb"}, paths(plan.Items()), "budget: least recently used first (ties by walk order)")
	for _, it := range plan.Items() {
		assert.Equal(t, cleanup.ReasonBudget, it.Reason)
	}
}

func TestBadRules(t *testing.T) {
	f := cleanuptest.New()
	f.WriteFile("/ok/file", 1, daysAgo(30))
	f.Mkdir("/home/u/x", daysAgo(1))
	week := 7 * 24 * time.Hour
	cases := []struct {
		rule cleanup.Rule
		want error
		text string
	}{
		{cleanup.Rule{Root: "/", OlderThan: week}, cleanup.ErrDangerousRoot, "system directory"},
		{cleanup.Rule{Root: "/usr", OlderThan: week}, cleanup.ErrDangerousRoot, "/usr"},
		{cleanup.Rule{Root: "/etc/", OlderThan: week}, cleanup.ErrDangerousRoot, "/etc"},
		{cleanup.Rule{Root: "/home", OlderThan: week}, cleanup.ErrDangerousRoot, "/home"},
		{cleanup.Rule{Root: "/home/u", OlderThan: week}, cleanup.ErrDangerousRoot, "home directory"},
		{cleanup.Rule{Root: "relative", OlderThan: week}, cleanup.ErrBadRule, "absolute"},
		{cleanup.Rule{Root: "/ok", OlderThan: -time.Hour}, cleanup.ErrBadRule, "negative"},
		{cleanup.Rule{Root: "/ok"}, cleanup.ErrBadRule, "older_than is 0"},
		{cleanup.Rule{Root: "/ok", OlderThan: week, Exclude: []string{"[x"}}, cleanup.ErrBadRule, `"[x"`},
		{cleanup.Rule{Root: "/ok", OlderThan: week, Age: "birth"}, cleanup.ErrBadRule, "birth"},
		{cleanup.Rule{Root: "/missing", OlderThan: week}, nil, "/missing"},
	}
	for _, c := range cases {
		t.Run(c.rule.Root, func(t *testing.T) {
			s := fakeSweeper(t, f, c.rule)
			rep, err := s.Plan(context.Background())
			require.Error(t, err)
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			}
			assert.Contains(t, err.Error(), c.text)
			assert.Empty(t, rep.Items())
			assert.True(t, f.Exists("/ok/file"))
		})
	}
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/missing", OlderThan: week, MissingOK: true}, cleanup.Rule{Root: "/ok", OlderThan: week})
	rep, err := s.Plan(context.Background())
	require.NoError(t, err, "missing_ok makes a missing root a note")
	assert.True(t, rep.Roots[0].Missing)
	assert.Equal(t, []string{"/ok/file"}, paths(rep.Items()), "the other roots are still swept")
}

func TestErrorsAreReportedAndSweepGoesOn(t *testing.T) {
	f := cleanuptest.New()
	f.WriteFile("/c/locked/x", 1, daysAgo(30))
	f.WriteFile("/c/gone", 1, daysAgo(30))
	f.WriteFile("/c/stuck", 1, daysAgo(30))
	f.WriteFile("/c/z", 1, daysAgo(30))
	f.Errs["open /c/locked"] = errors.New("permission denied")
	f.Errs["remove /c/stuck"] = errors.New("operation not permitted")
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/c", OlderThan: time.Hour})
	rep, err := s.Sweep(context.Background(), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/c/locked: permission denied")
	assert.Contains(t, err.Error(), "remove /c/stuck: operation not permitted")
	assert.Equal(t, []string{"/c/gone", "/c/z"}, paths(rep.Items()))
	assert.Len(t, rep.Errors, 2)
}

func TestCancelReturnsPartialReport(t *testing.T) {
	f := cleanuptest.New()
	for _, n := range []string{"a", "b", "c"} {
		f.WriteFile("/c/"+n, 1, daysAgo(30))
	}
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/c", OlderThan: time.Hour})
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := s.Apply(ctx, plan)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotNil(t, rep)
	assert.Empty(t, rep.Items())
	assert.True(t, f.Exists("/c/a"))
}

func TestNoatimeFallsBackToNewest(t *testing.T) {
	f := cleanuptest.New()
	// Read daily (mtime fresh) but never seen accessed: noatime froze atime.
	f.WriteFile("/c/used", 1, daysAgo(30))
	f.SetTimes("/c/used", daysAgo(30), daysAgo(1), daysAgo(1))
	f.WriteFile("/c/stale", 1, daysAgo(30))
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/c", OlderThan: 7 * 24 * time.Hour})
	s.Proc = "testdata/proc-noatime"
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/c/stale"}, paths(plan.Items()))
	assert.Equal(t, cleanup.AgeBasisNewest, plan.Roots[0].Age)
	require.Len(t, plan.Notes, 1)
	assert.Contains(t, plan.Notes[0], "noatime")
}

// TestHomeIsRoot: when $HOME is /root (containers run as root), a rule
// with within may sweep it (only checkpoint contents); without, it stays a
// dangerous root.
func TestHomeIsRoot(t *testing.T) {
	f := cleanuptest.New()
	f.WriteFile("/root/nb/.ipynb_checkpoints/a-checkpoint.ipynb", 5, daysAgo(10))
	f.WriteFile("/root/nb/model.pt", 5, daysAgo(100))
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/root", Within: []string{".ipynb_checkpoints"}, OlderThan: 7 * 24 * time.Hour})
	s.Home = "/root"
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/root/nb/.ipynb_checkpoints/a-checkpoint.ipynb"}, paths(plan.Items()))

	s.Rules[0].Within = nil
	_, err = s.Plan(context.Background())
	require.ErrorIs(t, err, cleanup.ErrDangerousRoot)
	assert.Contains(t, err.Error(), "/root")
}

// TestParallelWalkIsOneWalk: walking subtrees in parallel (the root's and
// its children's subdirectories) plans and deletes exactly what one worker
// does, in the same order: protect, exclude and within rules three levels
// down, directories emptied bottom-up, and the item cap of a real run.
func TestParallelWalkIsOneWalk(t *testing.T) {
	build := func() *cleanuptest.FS {
		f := cleanuptest.New()
		f.Mkdir("/r", daysAgo(40))
		for a := range 4 {
			for b := range 5 {
				for c := range 3 {
					d := fmt.Sprintf("/r/a%d/b%d/c%d", a, b, c)
					f.WriteFile(d+"/old.bin", int64(a*100+b*10+c), daysAgo(30))
					f.WriteFile(d+"/new.bin", 1, daysAgo(1))
					if c == 2 {
						f.WriteFile(d+"/only-old", 1, daysAgo(20))
					}
					f.WriteFile(d+"/keep.log", 1, daysAgo(30))
				}
				f.WriteFile(fmt.Sprintf("/r/a%d/b%d/mid", a, b), 1, daysAgo(30))
			}
			f.WriteFile(fmt.Sprintf("/r/a%d/top", a), 1, daysAgo(30))
		}
		// Old directories holding only old files go whole, bottom-up.
		for a := range 4 {
			f.WriteFile(fmt.Sprintf("/r/a%d/b9/c9/gone", a), 1, daysAgo(30))
			f.Mkdir(fmt.Sprintf("/r/a%d/b9/c9", a), daysAgo(30))
			f.Mkdir(fmt.Sprintf("/r/a%d/b9", a), daysAgo(30))
		}
		for a := range 4 {
			for b := range 5 {
				for c := range 3 {
					f.Mkdir(fmt.Sprintf("/r/a%d/b%d/c%d", a, b, c), daysAgo(30))
				}
				f.Mkdir(fmt.Sprintf("/r/a%d/b%d", a, b), daysAgo(30))
			}
			f.Mkdir(fmt.Sprintf("/r/a%d", a), daysAgo(30))
		}
		return f
	}
	rule := cleanup.Rule{Root: "/r", OlderThan: 7 * 24 * time.Hour, Exclude: []string{"*.log", "a1/b2/*"}}
	sweeper := func(f *cleanuptest.FS, workers int) *cleanup.Sweeper {
		s := fakeSweeper(t, f, rule)
		s.Protect = []string{"/r/a2/b3/c1", "/r/a3/b0/mid"}
		s.Workers = workers
		s.ReportItems = 25
		return s
	}
	one, err := sweeper(build(), 1).Plan(context.Background())
	require.NoError(t, err)
	many, err := sweeper(build(), 16).Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, paths(one.Items()), paths(many.Items()), "the same plan, in the same order")
	assert.Equal(t, one.Scanned, many.Scanned)
	assert.Equal(t, one.Skipped, many.Skipped)
	assert.Contains(t, paths(one.Items()), "/r/a0/b9", "an emptied old directory goes")
	assert.NotContains(t, paths(one.Items()), "/r/a2/b3/c1/old.bin", "protected three levels down")
	assert.NotContains(t, paths(one.Items()), "/r/a1/b2/c0", "excluded by a relative glob")

	f1, f16 := build(), build()
	r1, err := sweeper(f1, 1).Sweep(context.Background(), false)
	require.NoError(t, err)
	r16, err := sweeper(f16, 16).Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, paths(one.Items())[:25], paths(r16.Items()), "the first ReportItems deletions, in plan order")
	assert.Equal(t, paths(r1.Items()), paths(r16.Items()))
	assert.Equal(t, len(one.Items()), r16.Deleted)
	assert.Equal(t, len(one.Items())-25, r16.ItemsOmitted)
	assert.Equal(t, f1.Paths("/r"), f16.Paths("/r"), "the same tree is left")
}
