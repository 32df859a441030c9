package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/units"
)

// --usage: what fills the disk, per cache root and per entry (a Hugging
// Face repository, a compile cache's kernel, a project), and what the plan
// would free of each. It is a dry run of the sweep alone: --usage implies
// --once, --dry-run and --only sweep.

// usageFlags completes the flags of --usage, or says why they cannot go
// together ("" when they can).
func usageFlags(f *flags) string {
	if !f.usage {
		return ""
	}
	switch {
	case f.check || f.argv != nil:
		return "--usage prints a dry run's report: it cannot be combined with --check or a command"
	case f.only != "" && f.only != "sweep":
		return fmt.Sprintf("--usage reports on the sweep's roots: it cannot run --only %s", f.only)
	case f.jitter != 0 || f.runAtStart || f.metricsAddr != "" || f.metricsFile != "":
		return "--usage is a one-off dry run: --jitter, --run-at-start, --metrics-addr and --metrics-file are for real runs"
	}
	f.once, f.dryRun, f.only = true, true, "sweep"
	return ""
}

// enableUsage makes the sweep task measure each entry of its roots.
func enableUsage(tasks []task) {
	for _, t := range tasks {
		if st, ok := t.(*sweepTask); ok {
			st.usage = true
			st.sweeper.Usage = true
		}
	}
}

// maxUsageEntries bounds the entries printed per root; --json carries all.
const maxUsageEntries = 20

// usageLines is the human usage report: the roots largest first, each with
// its entries largest first: bytes on disk (each file once), files, last
// use and what the plan frees.
func usageLines(rep *cleanup.Report) []string {
	roots := slices.Clone(rep.Roots)
	roots = slices.DeleteFunc(roots, func(r cleanup.RootReport) bool { return r.Missing })
	slices.SortStableFunc(roots, func(a, b cleanup.RootReport) int { return cmp.Compare(b.HeldBytes, a.HeldBytes) })
	var total int64
	for _, r := range roots {
		total += r.HeldBytes
	}
	lines := []string{fmt.Sprintf("  usage (bytes on disk, each file once; largest first): %s in %d roots", units.Size(total).Human(), len(roots))}
	for _, r := range roots {
		lines = append(lines, fmt.Sprintf("    %s: %s in %d files, last use %s; the plan frees %s (%d items)",
			quoted(r.Root), units.Size(r.HeldBytes).Human(), r.HeldFiles, day(r.LastUse), units.Size(r.Bytes).Human(), r.Deleted))
		for i, e := range r.Entries {
			if i == maxUsageEntries {
				lines = append(lines, fmt.Sprintf("      ... and %d more entries (--json lists them all)", len(r.Entries)-i))
				break
			}
			lines = append(lines, fmt.Sprintf("      %9s %8d files  used %s  frees %9s  %s",
				units.Size(e.Bytes).Human(), e.Files, day(e.LastUse), units.Size(e.PlannedBytes).Human(), quoted(e.Name)))
		}
	}
	return lines
}

// withoutPlan drops the plan listing from a dry run's summary lines.
func withoutPlan(lines []string) []string {
	if i := slices.Index(lines, sweepPlanHead); i >= 0 {
		return lines[:i]
	}
	return lines
}

// day is t's date in UTC, "never" for no time.
func day(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02")
}

// quoted is name, quoted when it is not printable as it is.
func quoted(name string) string {
	if q := strconv.Quote(name); q[1:len(q)-1] != name {
		return q
	}
	return name
}

// sweepReport is the sweep's report with the rules the config left out
// (HOME unset or "/", a cache that cannot be located): --json prints them
// as "left_out", before the report's own fields.
type sweepReport struct {
	*cleanup.Report
	LeftOut []config.LeftOut
}

// WriteJSON writes the report's JSON object with "left_out" first,
// streaming the report's items as cleanup.Report.WriteJSON does.
func (r *sweepReport) WriteJSON(w io.Writer) error {
	lo, err := json.Marshal(r.LeftOut)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"left_out":`)
	bw.Write(lo)
	bw.WriteByte(',')
	// The report's object without its opening brace.
	if err := r.Report.WriteJSON(&skipFirst{w: bw}); err != nil {
		return err
	}
	return bw.Flush()
}

// MarshalJSON is WriteJSON into memory.
func (r *sweepReport) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// skipFirst drops the first byte written through it.
type skipFirst struct {
	w       io.Writer
	skipped bool
}

func (s *skipFirst) Write(p []byte) (int, error) {
	if !s.skipped && len(p) > 0 {
		s.skipped = true
		n, err := s.w.Write(p[1:])
		return n + 1, err
	}
	return s.w.Write(p)
}

// cleanupReport returns the sweep's report inside a task's report (nil for
// another task's).
func cleanupReport(rep any) *cleanup.Report {
	switch r := rep.(type) {
	case *cleanup.Report:
		return r
	case *sweepReport:
		return r.Report
	}
	return nil
}
