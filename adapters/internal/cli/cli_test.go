package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
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
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tendkit/tend", Version: "v0.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "true"},
		}}
	assert.Equal(t, "tend-cron v0.4.0 (rev 0123456789ab-dirty, go1.26.8)", versionString("tend-cron", "", bi))
	assert.Equal(t, "tend-cron v1.2.3 (rev 0123456789ab-dirty, go1.26.8)", versionString("tend-cron", "v1.2.3", bi), "a version set at link time wins")
	bi.Settings[2].Value = "false"
	bi.Main.Version = "(devel)"
	assert.Equal(t, "tend-health (devel) (rev 0123456789ab, go1.26.8)", versionString("tend-health", "", bi))
	assert.Equal(t, "tend-compose (devel) (rev unknown)", versionString("tend-compose", "", nil))
	assert.Equal(t, "x (devel) (rev unknown, go1.26.8)", versionString("x", "", &debug.BuildInfo{GoVersion: "go1.26.8"}))
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteJSON(&b, map[string]int{"a": 1}))
	assert.Equal(t, "{\n  \"a\": 1\n}\n", b.String())
}

func TestPrintFlagsAndHelpProblems(t *testing.T) {
	fs := flag.NewFlagSet("tend-x", flag.ContinueOnError)
	fs.String("config", "", "config `FILE`")
	fs.Duration("timeout", 0, "deadline `DURATION` (default: the config's, else 10s)")
	fs.String("format", "compose", "output `FORMAT`")
	fs.Bool("json", false, "print JSON")
	var b strings.Builder
	PrintFlags(&b, fs)
	assert.Equal(t, "  --config FILE\n      config FILE\n"+
		"  --format FORMAT\n      output FORMAT (default compose)\n"+
		"  --json\n      print JSON\n"+
		"  --timeout DURATION\n      deadline DURATION (default: the config's, else 10s)\n", b.String())
	assert.Empty(t, HelpProblems(b.String()))

	// What flag.PrintDefaults writes for flags without a named value, or
	// with a default in the text and a non-zero one: each is named.
	bad := flag.NewFlagSet("tend-x", flag.ContinueOnError)
	bad.String("spec", "", "spec file (YAML: `users:` or `container:`)")
	bad.Duration("timeout", 30*time.Second, "deadline (default 30s)")
	bad.String("log-format", "text", "log format")
	var g strings.Builder
	bad.SetOutput(&g)
	bad.PrintDefaults()
	problems := strings.Join(HelpProblems(g.String()), "\n")
	assert.Contains(t, problems, `-spec has the placeholder "users:"`)
	assert.Contains(t, problems, `-log-format has the placeholder "string"`)
	assert.Contains(t, problems, `-timeout states its default more than once`)
	assert.Equal(t, []string{"no flags found in the help text"}, HelpProblems("usage: x\n"))
}

func TestPrintErrorsOnePerLine(t *testing.T) {
	var me *multierror.Error
	me = multierror.Append(me, errors.New("tend.yaml:6: field sweep.rules[0].older_than: negative"),
		errors.Join(errors.New("tend.yaml:7: field a: x"), errors.New("tend.yaml:9: field b: y")))
	var b strings.Builder
	PrintErrors(&b, "tend-x", fmt.Errorf("load: %w", me), errors.New("spec.yaml:2: user a: field cpus: too many"), nil)
	assert.Equal(t, "tend-x: tend.yaml:6: field sweep.rules[0].older_than: negative\n"+
		"tend-x: tend.yaml:7: field a: x\n"+
		"tend-x: tend.yaml:9: field b: y\n"+
		"tend-x: spec.yaml:2: user a: field cpus: too many\n", b.String())
	assert.Nil(t, Flatten(nil))
	b.Reset()
	PrintErrors(&b, "", me)
	assert.Equal(t, "tend.yaml:6: field sweep.rules[0].older_than: negative\ntend.yaml:7: field a: x\ntend.yaml:9: field b: y\n", b.String())
}
