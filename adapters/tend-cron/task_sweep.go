package main

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/units"
)

// sweepTask runs a cleanup.Sweeper built from the config's sweep section.
type sweepTask struct {
	schedule string
	sweeper  *cleanup.Sweeper
	leftOut  []config.LeftOut // rules that cannot be located here
	usage    bool             // --usage: print what each root and entry holds
}

// newSweepTask turns cfg.Sweep into a cleanup.Sweeper; ok is false when
// the config has no sweep section.
func newSweepTask(cfg *config.Config, log *slog.Logger) (task, bool, error) {
	if cfg == nil || cfg.Sweep == nil {
		return nil, false, nil
	}
	sc := cfg.Sweep
	s := &cleanup.Sweeper{MaxDeletions: sc.MaxDeletions, Logger: log}
	for _, p := range sc.Protect {
		s.Protect = append(s.Protect, string(p))
	}
	for _, r := range sc.Rules {
		s.Rules = append(s.Rules, r.CleanupRule())
	}
	sched := sc.Schedule
	if sched == "" {
		sched = "@daily"
	}
	if len(sc.LeftOut) > 0 {
		log.Warn("sweep: rules left out: they cannot be located in this environment", "count", len(sc.LeftOut), "why", sc.LeftOut[0].Reason, "rules", leftOutNames(sc.LeftOut))
	}
	return &sweepTask{schedule: sched, sweeper: s, leftOut: sc.LeftOut}, true, nil
}

// leftOutNames lists the rules left out, as "sweep.rules[0] (cache: torch)",
// with the reason of each one left out for another reason than the first.
func leftOutNames(l []config.LeftOut) string {
	names := make([]string, len(l))
	for i, x := range l {
		names[i] = fmt.Sprintf("%s (%s)", x.Field, x.Rule)
		if x.Reason != l[0].Reason {
			names[i] = fmt.Sprintf("%s (%s: %s)", x.Field, x.Rule, x.Reason)
		}
	}
	return strings.Join(names, ", ")
}

func (t *sweepTask) Name() string     { return "sweep" }
func (t *sweepTask) Schedule() string { return t.schedule }

// Run plans (dryRun) or sweeps once and summarises the report.
func (t *sweepTask) Run(ctx context.Context, dryRun bool) (taskResult, error) {
	rep, err := t.sweeper.Sweep(ctx, dryRun)
	if rep == nil {
		return taskResult{Metrics: map[string]float64{"errors": 1}}, err
	}
	lines := sweepLines(rep)
	if t.usage {
		lines = append(withoutPlan(lines), usageLines(rep)...)
	}
	var report any = rep
	if len(t.leftOut) > 0 {
		lines = append(lines, fmt.Sprintf("  left out %d rules: %s: %s", len(t.leftOut), t.leftOut[0].Reason, leftOutNames(t.leftOut)))
		report = &sweepReport{Report: rep, LeftOut: t.leftOut}
	}
	return taskResult{Report: report, Lines: lines, Metrics: map[string]float64{
		"bytes_freed":    float64(rep.Bytes),
		"files_deleted":  float64(rep.Deleted),
		"errors":         float64(len(rep.Errors)),
		"rules_left_out": float64(len(t.leftOut)),
	}}, err
}

// sweepLines is the human summary: one line per root, the skips, notes and
// every path that could not be touched, with the reason.
func sweepLines(rep *cleanup.Report) []string {
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
	}
	lines := []string{fmt.Sprintf("sweep: %s %d entries, %s (scanned %d)", verb, rep.Deleted, units.Size(rep.Bytes).Human(), rep.Scanned)}
	for _, r := range rep.Roots {
		switch {
		case r.Missing:
			lines = append(lines, fmt.Sprintf("  %s: missing, skipped", r.Root))
		default:
			l := fmt.Sprintf("  %s: %s %d, %s (age by %s)", r.Root, verb, r.Deleted, units.Size(r.Bytes).Human(), r.Age)
			if r.Note != "" {
				l += "; " + r.Note
			}
			lines = append(lines, l)
		}
	}
	if rep.ItemsOmitted > 0 {
		lines = append(lines, fmt.Sprintf("  the report lists the first %d deletions; the log has all %d", rep.Deleted-rep.ItemsOmitted, rep.Deleted))
	}
	switch {
	case rep.DryRun || rep.FreedMeasured == 0:
	case rep.FreedMeasured > 0:
		lines = append(lines, fmt.Sprintf("  free space grew by %s", units.Size(rep.FreedMeasured).Human()))
	default: // other writers on the file system outpaced the sweep
		lines = append(lines, fmt.Sprintf("  free space shrank by %s meanwhile (other writers)", units.Size(-rep.FreedMeasured).Human()))
	}
	if len(rep.Skipped) > 0 {
		var ks []string
		for k, v := range rep.Skipped {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(ks)
		lines = append(lines, "  skipped: "+strings.Join(ks, " "))
	}
	for _, e := range rep.Errors {
		lines = append(lines, "  error: "+e)
	}
	if rep.DryRun {
		lines = append(lines, sweepPlanLines(rep.AllItems(), rep.Deleted, maxSweepPlanLines)...)
	}
	return lines
}

// sweepPlanHead opens the plan's listing in a dry run's summary.
const sweepPlanHead = "  plan (in order):"

// maxSweepPlanLines bounds the plan printed by a human-readable dry run; --json
// carries every item.
const maxSweepPlanLines = 200

// sweepPlanLines lists the first max of a dry run's total planned items in
// order, one entry per line, building only the paths it prints; names that
// are not printable (a newline, invalid UTF-8) are quoted.
func sweepPlanLines(items iter.Seq[cleanup.Item], total, max int) []string {
	if total == 0 {
		return nil
	}
	lines := []string{sweepPlanHead}
	i := 0
	for it := range items {
		if i == max {
			lines = append(lines, fmt.Sprintf("    ... and %d more (--json lists them all)", total-max))
			break
		}
		i++
		p := it.Path
		if q := strconv.Quote(p); q[1:len(q)-1] != p {
			p = q
		}
		lines = append(lines, fmt.Sprintf("    %s %s (%s, %s, used %s)", it.Type, p, units.Size(it.Bytes).Human(), it.Reason, it.Used.UTC().Format("2006-01-02")))
	}
	return lines
}
