package units

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Day and Week extend time's units for ages and retention.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

var durUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": Day, "w": Week,
}

// ParseDuration parses a Go duration extended with d (24h) and w (7d), such
// as "7d", "1w2d", "36h" or "1d12h30m". A bare "0" is zero. Negative values,
// overflow and unknown units are errors that quote the text.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("duration %q: empty: %w", s, ErrSyntax)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("duration %q: negative: %w", s, ErrSyntax)
	}
	if t[0] == '+' {
		t = t[1:]
	}
	if t == "0" {
		return 0, nil
	}
	total := new(big.Rat)
	for t != "" {
		i := 0
		for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
			i++
		}
		num := t[:i]
		if num == "" || num == "." || strings.Count(num, ".") > 1 {
			return 0, fmt.Errorf("duration %q: expected a number at %q: %w", s, t, ErrSyntax)
		}
		t = t[i:]
		j := 0
		for j < len(t) && !(t[j] >= '0' && t[j] <= '9' || t[j] == '.') {
			j++
		}
		unit := t[:j]
		t = t[j:]
		mult, ok := durUnits[unit]
		if !ok {
			if unit == "" {
				return 0, fmt.Errorf("duration %q: missing unit after %s (use s, m, h, d, w): %w", s, num, ErrSyntax)
			}
			return 0, fmt.Errorf("duration %q: unknown unit %q (use ns, us, ms, s, m, h, d, w): %w", s, unit, ErrSyntax)
		}
		v, ok := new(big.Rat).SetString(num)
		if !ok {
			return 0, fmt.Errorf("duration %q: bad number %q: %w", s, num, ErrSyntax)
		}
		total.Add(total, v.Mul(v, new(big.Rat).SetInt64(int64(mult))))
	}
	n := new(big.Int).Quo(total.Num(), total.Denom()) // whole nanoseconds
	if !n.IsInt64() {
		return 0, fmt.Errorf("duration %q: too large (at most about 292 years): %w", s, ErrSyntax)
	}
	return time.Duration(n.Int64()), nil
}

// FormatDuration prints d with w, d, h, m, s and sub-second parts, largest
// first ("1w", "1d12h", "90s" as "1m30s"), so ParseDuration parses it back
// to the same value. Zero prints as "0s".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		if d == math.MinInt64 {
			return time.Duration(d).String()
		}
		d = -d
	}
	for _, u := range []struct {
		n    time.Duration
		name string
	}{{Week, "w"}, {Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"}} {
		if d >= u.n {
			fmt.Fprintf(&b, "%d%s", d/u.n, u.name)
			d %= u.n
		}
	}
	return b.String()
}

// Round rounds d for people to read in reports and logs, the one rounding
// tend prints durations with: to the second from a minute up ("3h2m5s"), to
// 10 ms from a second ("1.23s"), to the millisecond from a millisecond
// ("12ms"), else to the microsecond ("350µs"). Durations to be parsed back
// are printed with FormatDuration instead.
func Round(d time.Duration) time.Duration {
	a := d
	if a < 0 {
		a = -a
	}
	switch {
	case a >= time.Minute:
		return d.Round(time.Second)
	case a >= time.Second:
		return d.Round(10 * time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
