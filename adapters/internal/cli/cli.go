// Package cli holds what the three adapter mains share: exit codes, the
// --log-format logger, --version text, usage errors and JSON output.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
)

// Exit codes of the adapter contract.
const (
	ExitOK    = 0 // success, healthy
	ExitFail  = 1 // a failed run, unhealthy
	ExitUsage = 2 // bad usage or a bad config
)

// Version is set at link time
// (-ldflags "-X github.com/tendkit/tend/adapters/internal/cli.Version=v1.2.3");
// otherwise the module version from the build info is used.
var Version = ""

// VersionString returns the --version line: "NAME VERSION", then the VCS
// revision the binary was built from with "-dirty" when the work tree had
// uncommitted changes, and the Go version: "tend-cron v1.2.3 (rev
// 0123456789ab-dirty, go1.26.8)". It reads runtime/debug.ReadBuildInfo;
// a binary built without VCS stamping (-buildvcs=false, or outside a
// repository) says "rev unknown".
func VersionString(name string) string {
	bi, _ := debug.ReadBuildInfo()
	return versionString(name, Version, bi)
}

func versionString(name, linked string, bi *debug.BuildInfo) string {
	v := linked
	if v == "" {
		v = "(devel)"
		if bi != nil && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	rev, dirty, goVersion := "unknown", false, ""
	if bi != nil {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		rev += "-dirty"
	}
	out := name + " " + v + " (rev " + rev
	if goVersion != "" {
		out += ", " + goVersion
	}
	return out + ")"
}

// NewLogger returns a logger writing to w as "text" or "json" at the given
// level ("debug", "info", "warn", "error").
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// Common holds the flags every adapter has.
type Common struct {
	JSON      bool
	Version   bool
	LogFormat string
	LogLevel  string
}

// Register adds --json, --version, --log-format and --log-level to fs.
func (c *Common) Register(fs *flag.FlagSet) {
	fs.BoolVar(&c.JSON, "json", false, "print one JSON document on stdout")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `FORMAT` on stderr: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
}

// Parse parses args into fs and reports whether to stop and with which exit
// code: --help prints usage on stdout and stops with 0, a bad flag prints the
// error on stderr and stops with 2.
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (stop bool, code int) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return true, ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", fs.Name(), err)
		return true, ExitUsage
	}
	return false, ExitOK
}

// WriteJSON writes v as one indented JSON document.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
