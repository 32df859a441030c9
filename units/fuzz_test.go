package units

import (
	"testing"
)

// FuzzParseSize checks that ParseSize never panics, never returns a
// negative size, and that every size it accepts prints back to text that
// parses to the same value.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "64m", "6GiB", "1.5Ti", "10QB", "-1", "1e19", "0.3k", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, v)
		}
		back, err := ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseSize(%q) = %d; String %q parses to %d, %v", s, v, v.String(), back, err)
		}
	})
}

// FuzzParseDuration checks the same round trip for durations.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "7d", "1w2d", "36h", "1.5h", "-3d", "3", "99999999999999999999h", "1d12h30m5s250ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, v)
		}
		back, err := ParseDuration(FormatDuration(v))
		if err != nil || back != v {
			t.Fatalf("ParseDuration(%q) = %v; FormatDuration %q parses to %v, %v", s, v, FormatDuration(v), back, err)
		}
	})
}

// FuzzParsePercent checks percentages stay within 0..100 and round-trip.
func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{"85%", "0", "100", "12.5%", "101%", "-1%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParsePercent(s)
		if err != nil {
			return
		}
		if v < 0 || v > 100 {
			t.Fatalf("ParsePercent(%q) = %v, outside 0..100", s, v)
		}
		back, err := ParsePercent(v.String())
		if err != nil || back != v {
			t.Fatalf("ParsePercent(%q) = %v; String %q parses to %v, %v", s, v, v.String(), back, err)
		}
	})
}
