package units

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Size is a number of bytes.
type Size int64

// Binary multiples.
const (
	B   Size = 1
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
	PiB Size = 1 << 50
)

// ErrSyntax is wrapped by every parse error, for callers that branch on it.
var ErrSyntax = errors.New("invalid value")

var sizeUnits = map[string]Size{
	"": B, "b": B,
	"k": KiB, "kb": KiB, "ki": KiB, "kib": KiB,
	"m": MiB, "mb": MiB, "mi": MiB, "mib": MiB,
	"g": GiB, "gb": GiB, "gi": GiB, "gib": GiB,
	"t": TiB, "tb": TiB, "ti": TiB, "tib": TiB,
	"p": PiB, "pb": PiB, "pi": PiB, "pib": PiB,
}

// ParseSize parses a size such as "512", "64m", "8GiB" or "1.5Ti".
func ParseSize(s string) (Size, error) {
	num, unit, err := splitNumber(s)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use bytes, k/m/g/t, KiB/MiB/GiB/TiB): %w", s, unit, ErrSyntax)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q: bad number %q: %w", s, num, ErrSyntax)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q: not a whole number of bytes: %w", s, ErrSyntax)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q: too large (at most %d bytes): %w", s, int64(math.MaxInt64), ErrSyntax)
	}
	return Size(n.Int64()), nil
}

// splitNumber splits "12.5GiB" into "12.5" and "GiB". It rejects signs,
// exponents and empty numbers, which strconv and big.Rat would accept.
func splitNumber(s string) (num, unit string, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", "", fmt.Errorf("empty: %w", ErrSyntax)
	}
	if t[0] == '-' {
		return "", "", fmt.Errorf("negative: %w", ErrSyntax)
	}
	i, dots := 0, 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		if t[i] == '.' {
			dots++
		}
		i++
	}
	num, unit = t[:i], strings.TrimSpace(t[i:])
	if num == "" || num == "." || dots > 1 {
		return "", "", fmt.Errorf("no number: %w", ErrSyntax)
	}
	return num, unit, nil
}

// String prints the size in the largest binary unit that divides it exactly
// ("50GiB", "1536MiB", "1000"), so that ParseSize(s.String()) == s.
func (s Size) String() string {
	if s < 0 {
		return fmt.Sprintf("%d", int64(s))
	}
	for _, u := range []struct {
		n    Size
		name string
	}{{PiB, "PiB"}, {TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.n == 0 {
			return fmt.Sprintf("%d%s", s/u.n, u.name)
		}
	}
	return fmt.Sprintf("%d", int64(s))
}

// Human prints the size rounded to one decimal in the largest fitting binary
// unit ("1.4GiB"), for reports; it does not round-trip.
func (s Size) Human() string {
	f := float64(s)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if math.Abs(f) < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%dB", int64(s))
			}
			return fmt.Sprintf("%.1f%s", f, u)
		}
		f /= 1024
	}
	return fmt.Sprintf("%.1fPiB", f)
}

// Bytes returns the size as an int64.
func (s Size) Bytes() int64 { return int64(s) }
