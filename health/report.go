package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tendkit/tend/units"
)

// DockerLogLimit is how many bytes of a HEALTHCHECK command's output Docker
// keeps per result.
const DockerLogLimit = 4096

// Report is the verdict of one probe: every check's Result, in order.
type Report struct {
	Profile  Profile       `json:"profile"`
	Time     time.Time     `json:"time"`
	Duration time.Duration `json:"duration_ns"`
	Results  []Result      `json:"results"`
}

// Healthy reports whether no check failed.
func (r Report) Healthy() bool {
	for _, res := range r.Results {
		if res.Status == StatusFail {
			return false
		}
	}
	return true
}

// Failed returns the results that failed.
func (r Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == StatusFail {
			out = append(out, res)
		}
	}
	return out
}

// Line formats one result as "fail http jupyter: connection refused (12ms)".
func (res Result) Line() string {
	head, msg, tail := res.lineParts()
	return head + msg + tail
}

// lineParts splits a result's line into "status name: ", the message (on one
// line) and " (duration)".
func (res Result) lineParts() (head, msg, tail string) {
	name := strings.Join(strings.Fields(res.Name), " ")
	return fmt.Sprintf("%s %s: ", res.Status, cut(name, maxNameBytes)),
		strings.Join(strings.Fields(res.Message), " "),
		fmt.Sprintf(" (%s)", units.Round(res.Duration))
}

// maxNameBytes is the most of a check's name a line shows.
const maxNameBytes = 100

// minMessageBytes is the least of a message kept when messages are cut.
const minMessageBytes = 40

// Verdict is the report's last line: "healthy (readiness 12ms)" or
// "unhealthy: 2 of 9 checks failed (liveness 3.1s)".
func (r Report) Verdict() string {
	verdict := "healthy"
	if !r.Healthy() {
		verdict = fmt.Sprintf("unhealthy: %d of %d checks failed", len(r.Failed()), len(r.Results))
	}
	return fmt.Sprintf("%s (%s %s)", verdict, r.Profile, units.Round(r.Duration))
}

// Lines returns one line per check followed by the verdict line, shortened
// so that all of them, with newlines, fit in limit bytes (0 =
// DockerLogLimit). The verdict is never cut. Long messages are cut first,
// the longest most, each keeping what fits of an equal share; names and
// statuses are kept. When even the names do not fit (hundreds of checks),
// the worst results are listed first (fail, warn, skip, pass), and a line
// "... N more checks: 80 pass, 2 skip" counts the ones left out.
func (r Report) Lines(limit int) []string {
	if limit <= 0 {
		limit = DockerLogLimit
	}
	verdict := r.Verdict()
	lines := make([]string, 0, len(r.Results)+1)
	total := len(verdict) + 1
	for _, res := range r.Results {
		l := res.Line()
		lines = append(lines, l)
		total += len(l) + 1
	}
	if total <= limit {
		return append(lines, verdict)
	}
	budget := limit - len(verdict) - 1
	if cutLines := r.cutMessages(budget); cutLines != nil {
		return append(cutLines, verdict)
	}
	return append(r.worstFirst(budget), verdict)
}

// cutMessages shortens messages so that every result's line fits in
// budget bytes together, or returns nil when the heads alone do not fit.
func (r Report) cutMessages(budget int) []string {
	type part struct{ head, msg, tail string }
	parts := make([]part, len(r.Results))
	fixed := 0
	for i, res := range r.Results {
		h, m, t := res.lineParts()
		parts[i] = part{h, m, t}
		fixed += len(h) + len(t) + 1
	}
	room := budget - fixed
	if room < 0 {
		return nil
	}
	// Water-fill: short messages keep all they have, the rest share
	// what is left equally.
	lens := make([]int, len(parts))
	for i, p := range parts {
		lens[i] = len(p.msg)
	}
	slices.Sort(lens)
	share, left := 0, room
	for i, n := range lens {
		each := left / (len(lens) - i)
		if n > each {
			share = each
			break
		}
		left -= n
		share = n
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.head + cut(p.msg, share) + p.tail
	}
	return out
}

// worstFirst lists as many results as fit in budget, failures first, each
// with its message cut short, and a line counting the rest.
func (r Report) worstFirst(budget int) []string {
	order := make([]int, len(r.Results))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return severity(r.Results[b].Status) - severity(r.Results[a].Status)
	})
	const moreRoom = 96 // "... 1234 more checks: 1234 pass, ..."
	var out []string
	used := 0
	shown := 0
	for _, i := range order {
		h, m, t := r.Results[i].lineParts()
		l := h + cut(m, minMessageBytes) + t
		if used+len(l)+1 > budget-moreRoom {
			break
		}
		out = append(out, l)
		used += len(l) + 1
		shown++
	}
	counts := map[Status]int{}
	for _, i := range order[shown:] {
		counts[r.Results[i].Status]++
	}
	var parts []string
	for _, st := range []Status{StatusFail, StatusWarn, StatusSkip, StatusPass} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	return append(out, cut(fmt.Sprintf("... %d more checks: %s", len(order)-shown, strings.Join(parts, ", ")), moreRoom-1))
}

// severity orders statuses for worstFirst.
func severity(s Status) int {
	switch s {
	case StatusFail:
		return 3
	case StatusWarn:
		return 2
	case StatusSkip:
		return 1
	}
	return 0
}

// String is the lines joined with newlines, fitting DockerLogLimit.
func (r Report) String() string {
	return strings.Join(r.Lines(0), "\n") + "\n"
}

// cut shortens s to at most n bytes, ending in "..." and never splitting a
// UTF-8 character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 3 {
		return s[:max(n, 0)]
	}
	i := n - 3
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}
