package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	newFS := func() (*flag.FlagSet, *Common) {
		fs := flag.NewFlagSet("tend-x", flag.ContinueOnError)
		var c Common
		c.Register(fs)
		return fs, &c
	}
	var out, errOut bytes.Buffer
	fs, _ := newFS()
	stop, code := Parse(fs, []string{"--help"}, &out, &errOut)
	assert.True(t, stop)
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, out.String(), "-log-format")

	out.Reset()
	fs, _ = newFS()
	stop, code = Parse(fs, []string{"--bogus"}, &out, &errOut)
	assert.True(t, stop)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut.String(), "tend-x: flag provided but not defined: -bogus")

	fs, c := newFS()
	stop, _ = Parse(fs, []string{"--json", "--log-format", "json"}, &out, &errOut)
	assert.False(t, stop)
	assert.True(t, c.JSON)
	assert.Equal(t, "json", c.LogFormat)
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(&b, "json", "info")
	require.NoError(t, err)
	l.Info("swept", "bytes", 42)
	assert.True(t, strings.HasPrefix(b.String(), "{"), b.String())
	l.Debug("hidden")
	assert.NotContains(t, b.String(), "hidden")

	_, err = NewLogger(&b, "xml", "info")
	assert.ErrorContains(t, err, `--log-format "xml"`)
	_, err = NewLogger(&b, "text", "loud")
	assert.ErrorContains(t, err, `--log-level "loud"`)
}

func TestVersionString(t *testing.T) {
	assert.True(t, strings.HasPrefix(VersionString("tend-cron"), "tend-cron "))
	Version = "v1.2.3"
	defer func() { Version = "" }()
	assert.Equal(t, "tend-cron v1.2.3", VersionString("tend-cron"))
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteJSON(&b, map[string]int{"a": 1}))
	assert.Equal(t, "{\n  \"a\": 1\n}\n", b.String())
}
