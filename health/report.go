package health

import (
	"fmt"
	"strings"
	"time"
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
	msg := strings.Join(strings.Fields(res.Message), " ") // one line, always
	return fmt.Sprintf("%s %s: %s (%s)", res.Status, res.Name, msg, roundDuration(res.Duration))
}

// Lines returns one line per check followed by a verdict line, shortened so
// that all of them, with newlines, fit in limit bytes (0 = DockerLogLimit).
// Long messages are cut first, each to an equal share; names and statuses
// are kept.
func (r Report) Lines(limit int) []string {
	if limit <= 0 {
		limit = DockerLogLimit
	}
	verdict := "healthy"
	if !r.Healthy() {
		verdict = fmt.Sprintf("unhealthy: %d of %d checks failed", len(r.Failed()), len(r.Results))
	}
	verdict = fmt.Sprintf("%s (%s %s)", verdict, r.Profile, roundDuration(r.Duration))
	lines := make([]string, 0, len(r.Results)+1)
	for _, res := range r.Results {
		lines = append(lines, res.Line())
	}
	lines = append(lines, verdict)
	total := 0
	for _, l := range lines {
		total += len(l) + 1
	}
	if total <= limit {
		return lines
	}
	share := limit/len(lines) - 1
	// Give the bytes short lines leave unused to the long ones.
	spare, long := limit, 0
	for _, l := range lines {
		if len(l) < share {
			spare -= len(l) + 1
		} else {
			long++
		}
	}
	if long > 0 {
		share = spare/long - 1
	}
	for i, l := range lines {
		if len(l) > share {
			lines[i] = cut(l, share)
		}
	}
	return lines
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
