package units

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"512", 512},
		{"512b", 512},
		{"1k", KiB},
		{"1K", KiB},
		{"1kb", KiB},
		{"64m", 64 * MiB},
		{"6g", 6 * GiB},
		{"6G", 6 * GiB},
		{"6Gi", 6 * GiB},
		{"6GiB", 6 * GiB},
		{"6 GiB", 6 * GiB},
		{"1.5GiB", 3 * GiB / 2},
		{"2t", 2 * TiB},
		{"1Ti", TiB},
		{" 10MiB ", 10 * MiB},
		{"8191P", 8191 * PiB},
		{"9223372036854775807", Size(1<<63 - 1)},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"10QB", `unknown unit "QB"`},
		{"-1", "negative"},
		{"-5GiB", "negative"},
		{"0.5", "whole number of bytes"},
		{"0.3k", "whole number of bytes"},
		{"1e19", `unknown unit "e19"`},
		{"9223372036854775808", "too large"},
		{"8192P", "too large"},
		{"100000000000000000000000T", "too large"},
		{"GiB", "no number"},
		{"1.2.3G", "no number"},
		{".", "no number"},
		{"+5", "no number"},
		{"0x10", `unknown unit "x10"`},
	}
	for _, tt := range tests {
		_, err := ParseSize(tt.in)
		require.Error(t, err, tt.in)
		assert.ErrorIs(t, err, ErrSyntax, tt.in)
		assert.Contains(t, err.Error(), tt.want, tt.in)
		assert.Contains(t, err.Error(), "size \""+tt.in+"\"", "the error quotes the bad text")
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1000, "1000"},
		{KiB, "1KiB"},
		{1536 * MiB, "1536MiB"},
		{50 * GiB, "50GiB"},
		{3 * TiB, "3TiB"},
		{2 * PiB, "2PiB"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.in.String())
	}
	assert.Equal(t, "1.5GiB", (3 * GiB / 2).Human())
	assert.Equal(t, "999B", Size(999).Human())
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"90s", 90 * time.Second},
		{"7d", 7 * Day},
		{"1w", Week},
		{"1w2d", 9 * Day},
		{"36h", 36 * time.Hour},
		{"1d12h30m", 36*time.Hour + 30*time.Minute},
		{"1.5h", 90 * time.Minute},
		{"0.5d", 12 * time.Hour},
		{"250ms", 250 * time.Millisecond},
		{"10us", 10 * time.Microsecond},
		{"+3d", 3 * Day},
		{"15250w", 15250 * Week},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"-3d", "negative"},
		{"3", "missing unit"},
		{"7days", `unknown unit "days"`},
		{"1y", `unknown unit "y"`},
		{"d", "expected a number"},
		{"1..2h", "expected a number"},
		{"99999999999999999999h", "too large"},
		{"15251w", "too large"},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		require.Error(t, err, tt.in)
		assert.ErrorIs(t, err, ErrSyntax, tt.in)
		assert.Contains(t, err.Error(), tt.want, tt.in)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{Week, "1w"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Second, "1m30s"},
		{1500 * time.Millisecond, "1s500ms"},
		{-2 * time.Hour, "-2h"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, FormatDuration(tt.in))
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]Percent{"85%": 85, "85": 85, "0%": 0, "100%": 100, "12.5 %": 12.5} {
		got, err := ParsePercent(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "%", "101%", "-5%", "abc", "1e2%", "NaN"} {
		_, err := ParsePercent(in)
		assert.ErrorIs(t, err, ErrSyntax, in)
	}
	assert.Equal(t, "85%", Percent(85).String())
	assert.Equal(t, int64(80), Percent(80).Of(100))
}

func TestRound(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3*time.Hour + 2*time.Minute + 5*time.Second + 600*time.Millisecond: "3h2m6s",
		1234567 * time.Microsecond:  "1.23s",
		-1234567 * time.Microsecond: "-1.23s",
		12345 * time.Microsecond:    "12ms",
		349600 * time.Nanosecond:    "350µs",
		0:                           "0s",
	} {
		assert.Equal(t, want, Round(d).String(), "%d", d)
	}
}
