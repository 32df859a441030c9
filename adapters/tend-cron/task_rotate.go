package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/rotate"
	"github.com/tendkit/tend/units"
)

// defaultRotateState is where the rotate task keeps its state file.
const defaultRotateState = "/var/lib/tend/rotate.json"

// rotateTask runs a rotate.Rotator built from the config's rotate section.
type rotateTask struct {
	schedule string
	rotator  *rotate.Rotator
}

// newRotateTask turns cfg.Rotate into a rotate.Rotator; ok is false when
// the config has no rotate section. Owners and groups of create are looked
// up here, so an unknown name is a config error before anything runs.
func newRotateTask(cfg *config.Config, log *slog.Logger) (task, bool, error) {
	if cfg == nil || cfg.Rotate == nil {
		return nil, false, nil
	}
	rc := cfg.Rotate
	r := &rotate.Rotator{State: string(rc.State), Logger: log}
	if r.State == "" {
		r.State = defaultRotateState
	}
	for i, f := range rc.Files {
		rule, err := rotateRule(f)
		if err != nil {
			return nil, false, fmt.Errorf("rotate.files[%d]: %w", i, err)
		}
		r.Rules = append(r.Rules, rule)
	}
	sched := rc.Schedule
	if sched == "" {
		sched = "@hourly"
	}
	return &rotateTask{schedule: sched, rotator: r}, true, nil
}

// rotateRule converts one rotate.files item (config's RotateRule) and
// looks up the owner and group names of create.
func rotateRule(f config.RotateFile) (rotate.Rule, error) {
	rule := f.RotateRule()
	if c := f.Create; c != nil && rule.Create != nil {
		var err error
		if rule.Create.UID, err = lookupID(c.Owner, "owner", user.Lookup, func(u *user.User) string { return u.Uid }); err != nil {
			return rule, err
		}
		if rule.Create.GID, err = lookupID(c.Group, "group", lookupGroup, func(g *user.Group) string { return g.Gid }); err != nil {
			return rule, err
		}
	}
	return rule, nil
}

func lookupGroup(name string) (*user.Group, error) { return user.LookupGroup(name) }

// lookupID resolves a user or group name (or a number) to its id; "" = -1.
func lookupID[T any](name, what string, lookup func(string) (*T, error), id func(*T) string) (int, error) {
	if name == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	v, err := lookup(name)
	if err != nil {
		return 0, fmt.Errorf("create.%s %q: %w", what, name, err)
	}
	return strconv.Atoi(id(v))
}

func (t *rotateTask) Name() string     { return "rotate" }
func (t *rotateTask) Schedule() string { return t.schedule }

// Run plans (dryRun) or rotates once and summarises the report.
func (t *rotateTask) Run(ctx context.Context, dryRun bool) (taskResult, error) {
	if !dryRun && t.rotator.State != "" {
		if err := os.MkdirAll(filepath.Dir(t.rotator.State), 0o755); err != nil {
			// Not a permission to skip, as a sweep skips what it may not
			// touch: without its state nothing is rotated, the run failed.
			return taskResult{Metrics: map[string]float64{"errors": 1}}, errors.New("rotate: nothing rotated: state directory: " + err.Error())
		}
	}
	var rep *rotate.Report
	var err error
	if dryRun {
		rep, err = t.rotator.Plan(ctx)
	} else {
		rep, err = t.rotator.Rotate(ctx)
	}
	if rep == nil {
		return taskResult{Metrics: map[string]float64{"errors": 1}}, err
	}
	if rep.Error != "" {
		// The state could not be locked, read or written: a failed run,
		// whatever the cause (a permission error included).
		err = errors.Join(errors.New("rotate: "+rep.Error), err)
	}
	verb := "rotated"
	if rep.DryRun {
		verb = "would rotate"
	}
	lines := []string{fmt.Sprintf("rotate: %s %d of %d logs, compressed %s into %s, deleted %d backups, %d errors",
		verb, rep.Rotations(), len(rep.Files), units.Size(rep.BytesCompressed()).Human(), units.Size(rep.CompressedBytes()).Human(), rep.Deleted(), rep.Errors())}
	for _, l := range rep.Lines() {
		lines = append(lines, "  "+l)
	}
	errs := rep.Errors()
	if err != nil && errs == 0 {
		errs = 1
	}
	return taskResult{Report: rep, Lines: lines, Metrics: map[string]float64{
		"rotations":        float64(rep.Rotations()),
		"bytes_compressed": float64(rep.BytesCompressed()),
		"files_deleted":    float64(rep.Deleted()),
		"errors":           float64(errs),
		"stuck_writers":    float64(rep.StuckWriters()),
	}}, err
}
