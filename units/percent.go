package units

import (
	"fmt"
	"strconv"
	"strings"
)

// Percent is a share from 0 to 100.
type Percent float64

// ParsePercent parses "85%" or "85" (the sign is optional) into 85. Values
// outside 0..100, empty text and anything not a plain decimal are errors.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	if t == "" {
		return 0, fmt.Errorf("percentage %q: empty: %w", s, ErrSyntax)
	}
	for _, c := range t {
		if (c < '0' || c > '9') && c != '.' {
			return 0, fmt.Errorf("percentage %q: not a number from 0 to 100: %w", s, ErrSyntax)
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("percentage %q: %w", s, ErrSyntax)
	}
	if v > 100 {
		return 0, fmt.Errorf("percentage %q: over 100%%: %w", s, ErrSyntax)
	}
	return Percent(v), nil
}

// String prints the percentage with its sign ("85%", "12.5%").
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"
}

// Of returns the share p of total, rounded down.
func (p Percent) Of(total int64) int64 {
	return int64(float64(total) * float64(p) / 100)
}
