package config

import (
	"time"

	"github.com/tendkit/tend/units"
)

// Size is a byte count read from YAML text such as "50GiB" or "100m".
type Size units.Size

// UnmarshalText parses a size with units.ParseSize.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := units.ParseSize(string(b))
	*s = Size(v)
	return err
}

// MarshalText prints the size so that it parses back to the same value.
func (s Size) MarshalText() ([]byte, error) { return []byte(units.Size(s).String()), nil }

// Bytes returns the size in bytes.
func (s Size) Bytes() int64 { return int64(s) }

// Duration is a time.Duration read from YAML text such as "7d" or "36h".
type Duration time.Duration

// UnmarshalText parses a duration with units.ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := units.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// MarshalText prints the duration so that it parses back to the same value.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(units.FormatDuration(time.Duration(d))), nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Percent is a share from 0 to 100 read from YAML text such as "85%".
type Percent units.Percent

// UnmarshalText parses a percentage with units.ParsePercent.
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := units.ParsePercent(string(b))
	*p = Percent(v)
	return err
}

// MarshalText prints the percentage with its sign.
func (p Percent) MarshalText() ([]byte, error) { return []byte(units.Percent(p).String()), nil }

// Path is a file system path; a leading "~" or "~/" is expanded to the home
// directory when the config is loaded.
type Path string
