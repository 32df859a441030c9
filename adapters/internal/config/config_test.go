package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/units"
)

var noEnv = Options{Env: []string{}, Home: "/home/ada"}

func TestLoadFullExample(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "full.yaml"), noEnv)
	require.NoError(t, err)

	require.NotNil(t, cfg.Sweep)
	assert.Equal(t, "@daily", cfg.Sweep.Schedule)
	assert.Equal(t, []Path{"/workspace", "/data"}, cfg.Sweep.Protect)
	require.Len(t, cfg.Sweep.Rules, 5)
	hub := cfg.Sweep.Rules[0]
	assert.Equal(t, Path("/home/ada/.cache/huggingface/hub"), hub.Path, "~ expanded")
	assert.Equal(t, "huggingface", hub.Layout)
	assert.Equal(t, 7*units.Day, hub.OlderThan.D())
	require.NotNil(t, hub.KeepUnder)
	assert.Equal(t, int64(50*units.GiB), hub.KeepUnder.Bytes())
	assert.Equal(t, []string{"main"}, hub.KeepRefs)
	triton := cfg.Sweep.Rules[1]
	assert.Equal(t, Path("/home/ada/.triton/cache"), triton.Path)
	assert.Equal(t, "entries", triton.Layout)
	assert.Equal(t, "torch", cfg.Sweep.Rules[3].Cache)
	nb := cfg.Sweep.Rules[4]
	assert.Equal(t, Path("/home/ada"), nb.Path, "a quoted ~ is the home directory")
	assert.Equal(t, []string{".ipynb_checkpoints"}, nb.Within)

	require.NotNil(t, cfg.Rotate)
	f := cfg.Rotate.Files[0]
	assert.Equal(t, int64(100*units.MiB), f.Size.Bytes())
	assert.Equal(t, 24*time.Hour, f.Every.D())
	assert.Equal(t, 30*units.Day, f.MaxAge.D())
	assert.Equal(t, "0644", f.Create.Mode)
	assert.Equal(t, Path("/var/run/jupyter.pid"), f.Signal.Pidfile)

	require.NotNil(t, cfg.Images)
	assert.Equal(t, units.Percent(85), units.Percent(*cfg.Images.DiskHigh))
	assert.Equal(t, units.Percent(80), units.Percent(*cfg.Images.DiskLow))
	assert.Equal(t, int64(10*units.GiB), cfg.Images.BuildCacheKeep.Bytes())

	require.NotNil(t, cfg.Health)
	assert.Equal(t, 10*time.Second, cfg.Health.Timeout.D())
	assert.True(t, *cfg.Health.Checks.Torch.RequireCUDA)
	assert.Equal(t, "127.0.0.1:22", cfg.Health.Checks.SSH[0].Addr)
	assert.Equal(t, []uint64{48, 74, 79, 95, 119, 120, 140}, cfg.Health.Checks.GPU.XIDFatal)
	assert.Equal(t, []int{0}, cfg.Health.Checks.Torch.Devices)
	assert.Equal(t, "warn", cfg.Health.Checks.Limits.Severity)
	assert.True(t, cfg.Health.Checks.Memory.Optional)
	assert.Equal(t, 2*time.Minute, cfg.Health.Serve.MaxAge.D())
}

func TestDefault(t *testing.T) {
	cfg, err := Default(noEnv)
	require.NoError(t, err)
	require.NotNil(t, cfg.Sweep)
	assert.Nil(t, cfg.Rotate, "the default rotates nothing")
	assert.Nil(t, cfg.Images, "the default prunes no images")
	var paths []string
	for _, r := range cfg.Sweep.Rules {
		paths = append(paths, string(r.Path))
		age := 7 * units.Day
		if r.Cache == "cuda" || r.Cache == "conda-pkgs" {
			age = 30 * units.Day // costly to rebuild: a JIT pass, a download
		}
		assert.Equal(t, age, r.OlderThan.D(), r.Path)
		assert.True(t, r.MissingOK, "a fresh container has none of these caches yet: %s", r.Path)
	}
	assert.Subset(t, paths, []string{
		"/home/ada/.cache/torch", "/home/ada/.cache/huggingface/hub", "/home/ada/.cache/huggingface/datasets",
		"/home/ada/.cache/huggingface/xet", "/home/ada/.cache/pip", "/home/ada/.cache/wandb",
		"/home/ada/.local/share/wandb/artifacts/staging", "/home/ada/.triton/cache", "/home/ada/.cache/vllm",
		"/home/ada/.nv/ComputeCache", "/home/ada/.conda/pkgs", "/home/ada", "/tmp",
	})
	for _, r := range cfg.Sweep.Rules {
		if r.Path == "/home/ada" {
			assert.Equal(t, []string{".ipynb_checkpoints"}, r.Within, "only notebook checkpoints under $HOME itself")
		}
	}
	assert.Contains(t, string(DefaultYAML()), "older_than: 7d")
}

// configErrors returns each *Error inside err.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	require.Error(t, err)
	var out []*Error
	var me *multierror.Error
	if errors.As(err, &me) {
		for _, e := range me.Errors {
			var ce *Error
			require.True(t, errors.As(e, &ce), "%T: %v", e, e)
			out = append(out, ce)
		}
		return out
	}
	var ce *Error
	require.True(t, errors.As(err, &ce), "%T: %v", err, err)
	return append(out, ce)
}

func TestBadConfigNamesFileLineAndField(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "bad.yaml"), noEnv)
	errs := configErrors(t, err)
	got := map[string]int{}
	for _, e := range errs {
		assert.Equal(t, filepath.Join("testdata", "bad.yaml"), e.File)
		got[e.Field] = e.Line
	}
	assert.Equal(t, map[string]int{
		"sweep.max_deletions":       3,
		"sweep.rules[0].older_than": 6,
		"sweep.rules[0].keep_under": 7,
		"sweep.rules[0].colour":     8,
		"sweep.schedule":            2,
	}, got, "every problem at once, decoding and validation: %v", err)
	for i := 1; i < len(errs); i++ {
		assert.LessOrEqual(t, errs[i-1].Line, errs[i].Line, "errors in file order")
	}
	msg := err.Error()
	assert.Contains(t, msg, `testdata/bad.yaml:7: field sweep.rules[0].keep_under: size "10QB": unknown unit "QB"`)
	assert.Contains(t, msg, `testdata/bad.yaml:6: field sweep.rules[0].older_than: duration "-3d": negative`)
	assert.Contains(t, msg, "unknown key colour (known here: age, cache,")
	assert.Contains(t, msg, "lots")
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, yaml, field, want string
		line                    int
	}{
		{"bad schedule", "sweep:\n  schedule: \"61 * * * *\"\n", "sweep.schedule", "61", 2},
		{"bad layout", "sweep:\n  rules:\n    - path: /tmp\n      layout: conda\n      older_than: 7d\n", "sweep.rules[0].layout", `"conda" is not one of plain, huggingface`, 4},
		{"bare tilde", "sweep:\n  rules:\n    - path: ~\n      older_than: 7d\n", "sweep.rules[0].path", `write "~"`, 3},
		{"negative cap", "sweep:\n  max_deletions: -1\n", "sweep.max_deletions", "negative", 2},
		{"bad glob", "sweep:\n  rules:\n    - path: /tmp\n      exclude: [\"[a\"]\n      older_than: 7d\n", "sweep.rules[0].exclude[0]", "bad glob", 4},
		// Problems the packages' Validate finds are config errors too, at
		// the item's line, before anything runs.
		{"no age and no budget", "sweep:\n  rules:\n    - path: /tmp\n      age: mtime\n", "sweep.rules[0]", "older_than is 0 and there is no keep_under budget", 3},
		{"empty glob", "sweep:\n  rules:\n    - path: /tmp\n      older_than: 1d\n      include: [\"*.tmp\", \"\"]\n", "sweep.rules[0].include[1]", "empty glob", 5},
		{"within with a slash", "sweep:\n  rules:\n    - path: /tmp\n      older_than: 1d\n      within: [a/b]\n", "sweep.rules[0].within[0]", `"a/b" is not a directory base name`, 5},
		{"system directory", "sweep:\n  rules:\n    - path: /usr\n      older_than: 1d\n", "sweep.rules[0].path", "dangerous root", 3},
		{"relative root", "sweep:\n  rules:\n    - path: tmp\n      older_than: 1d\n", "sweep.rules[0].path", "not an absolute path", 3},
		{"signal with copytruncate", "rotate:\n  files:\n    - path: /x.log\n      method: copytruncate\n      signal: {pidfile: /run/x.pid}\n", "rotate.files[0].signal", "nothing to signal", 5},
		{"low watermark alone", "images:\n  disk_low: 80%\n", "images.disk_low", "above disk_high", 2},
		{"empty label key", "images:\n  labels: [\" =x\"]\n", "images.labels[0]", "not key or key=value", 2},
		{"bad http status", "health:\n  checks:\n    http: [{url: \"http://127.0.0.1/\", expect: [200, 42]}]\n", "health.checks.http[0].expect[1]", "42 is not an HTTP status", 3},
		{"fail below warn", "health:\n  checks:\n    memory: {warn_usage: 90%, fail_usage: 80%}\n", "health.checks.memory.fail_usage", "below warn_usage", 3},
		{"negative gpu count", "health:\n  checks:\n    gpu: {min_count: -1}\n", "health.checks.gpu.min_count", "-1 is negative", 3},
		{"zero size", "rotate:\n  files:\n    - path: /x.log\n      size: 0\n", "rotate.files[0].size", "0 bytes", 4},
		{"bad method", "rotate:\n  files:\n    - path: /x.log\n      method: move\n", "rotate.files[0].method", "move", 4},
		{"negative keep", "images:\n  keep_latest: -2\n", "images.keep_latest", "negative", 2},
		{"watermarks", "images:\n  disk_high: 70%\n  disk_low: 80%\n", "images.disk_low", "above disk_high", 3},
		{"percent over 100", "images:\n  disk_high: 170%\n", "images.disk_high", "over 100%", 2},
		{"wrong type", "sweep:\n  rules: /tmp\n", "sweep.rules", "into", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml), noEnv)
			errs := configErrors(t, err)
			require.Len(t, errs, 1, "%v", err)
			assert.Equal(t, tt.field, errs[0].Field)
			assert.Equal(t, tt.line, errs[0].Line)
			assert.Contains(t, errs[0].Error(), tt.want)
		})
	}
}

func TestEmptyAndNonMappingConfigs(t *testing.T) {
	for _, y := range []string{"", "  \n", "# only a comment\n", "{}\n", "~\n"} {
		_, err := Parse("empty.yaml", []byte(y), noEnv)
		assert.ErrorIs(t, err, ErrEmpty, "%q", y)
	}
	_, err := Parse("list.yaml", []byte("- a\n- b\n"), noEnv)
	assert.ErrorContains(t, err, "expected a mapping of sections")
	_, err = Parse("syntax.yaml", []byte("sweep:\n  rules: [\n"), noEnv)
	assert.ErrorContains(t, err, "syntax.yaml")
	_, err = Load("/nonexistent/tend.yaml", noEnv)
	assert.ErrorContains(t, err, "/nonexistent/tend.yaml")
}

func TestEnvOverrides(t *testing.T) {
	opts := Options{Home: "/home/ada", Env: []string{
		"TEND_SWEEP_OLDER_THAN=3d",     // a rule field: every rule
		"TEND_SWEEP_MAX_DELETIONS=100", // a section field
		"TEND_SWEEP_PROTECT=/a, /b",    // a list
		"TEND_INTEGRATION=required",    // not a section: ignored
		"PATH=/usr/bin",
	}}
	cfg, err := Default(opts)
	require.NoError(t, err)
	assert.Equal(t, 100, cfg.Sweep.MaxDeletions)
	assert.Equal(t, []Path{"/a", "/b"}, cfg.Sweep.Protect)
	for _, r := range cfg.Sweep.Rules {
		assert.Equal(t, 3*units.Day, r.OlderThan.D(), r.Path)
	}
}

func TestEnvOverrideErrorsNameTheVariable(t *testing.T) {
	tests := []struct{ env, want string }{
		{"TEND_SWEEP_OLDER_THAN=-3d", `environment variable TEND_SWEEP_OLDER_THAN="-3d": field sweep.rules[*].older_than: duration "-3d": negative`},
		{"TEND_SWEEP_MAX_DELETIONS=many", `environment variable TEND_SWEEP_MAX_DELETIONS="many": field sweep.max_deletions`},
		{"TEND_SWEEP_COLOUR=blue", `environment variable TEND_SWEEP_COLOUR="blue": field sweep.colour: section sweep has no field colour`},
		{"TEND_IMAGES_KEEP_LATEST=2", `environment variable TEND_IMAGES_KEEP_LATEST="2": field images.keep_latest: the config has no images section`},
		{"TEND_SWEEP_SCHEDULE=61 * * * *", `environment variable TEND_SWEEP_SCHEDULE="61 * * * *": field sweep.schedule: bad schedule`},
	}
	for _, tt := range tests {
		_, err := Default(Options{Home: "/h", Env: []string{tt.env}})
		require.Error(t, err, tt.env)
		assert.Contains(t, err.Error(), tt.want)
	}
}

// TestBadEnvOverrideReportedOnce: a variable that sets a field of every
// list item (the default has nine sweep rules, a rotate section two files)
// is one problem, named once with its value, and leaves no follow-on
// problem in the items it was not written to.
func TestBadEnvOverrideReportedOnce(t *testing.T) {
	tests := []struct {
		name, env, yaml, want string
	}{
		{"undecodable, in every rule", "TEND_SWEEP_OLDER_THAN=banana", "",
			`environment variable TEND_SWEEP_OLDER_THAN="banana": field sweep.rules[*].older_than: duration "banana"`},
		{"decodes but invalid, in every file", "TEND_ROTATE_KEEP=-2", "rotate:\n  files:\n    - path: /var/log/a.log\n    - path: /var/log/b.log\n",
			`environment variable TEND_ROTATE_KEEP="-2": field rotate.files[*].keep: -2 is negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Home: "/h", Env: []string{tt.env}}
			var err error
			if tt.yaml == "" {
				cfg, derr := Default(Options{Home: "/h", Env: []string{}})
				require.NoError(t, derr)
				require.Greater(t, len(cfg.Sweep.Rules), 1, "the default has several rules to repeat the problem in")
				_, err = Default(opts)
			} else {
				_, err = Parse("t.yaml", []byte(tt.yaml), opts)
			}
			require.Error(t, err)
			var merr *multierror.Error
			require.ErrorAs(t, err, &merr)
			require.Len(t, merr.Errors, 1, "one problem, once: %v", err)
			assert.Contains(t, merr.Errors[0].Error(), tt.want)
		})
	}
}

func TestUnknownKeySuggestsNearest(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"sweep:\n  rules:\n    - path: /tmp\n      olderthan: 7d\n", "t.yaml:4: field sweep.rules[0].olderthan: unknown key olderthan; did you mean older_than?"},
		{"sweep:\n  maxDeletions: 3\n  rules: [{path: /tmp, older_than: 1d}]\n", "unknown key maxDeletions; did you mean max_deletions?"},
		{"rotat:\n  files: []\n", "t.yaml:1: field rotat: unknown key rotat; did you mean rotate?"},
		// inline fields (CheckCommon) count as the check's own keys
		{"health:\n  checks:\n    disk: [{path: /, profile: [liveness]}]\n", "t.yaml:3: field health.checks.disk[0].profile: unknown key profile; did you mean profiles?"},
		// nothing close: the keys valid there instead of a guess
		{"sweep:\n  colour: blue\n  rules: [{path: /tmp, older_than: 1d}]\n", "unknown key colour (known here: max_deletions, "},
	}
	for _, tt := range tests {
		_, err := Parse("t.yaml", []byte(tt.yaml), noEnv)
		require.Error(t, err, tt.yaml)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func TestExpandHome(t *testing.T) {
	assert.Equal(t, "/h", ExpandHome("~", "/h"))
	assert.Equal(t, "/h/x", ExpandHome("~/x", "/h/"))
	assert.Equal(t, "~bob/x", ExpandHome("~bob/x", "/h"), "other users' homes are left alone")
	assert.Equal(t, "/tmp", ExpandHome("/tmp", "/h"))
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, s := range []string{"50GiB", "1000", "64MiB"} {
		var v Size
		require.NoError(t, v.UnmarshalText([]byte(s)))
		b, _ := v.MarshalText()
		assert.Equal(t, s, string(b))
	}
	var d Duration
	require.NoError(t, d.UnmarshalText([]byte("1w2d")))
	b, _ := d.MarshalText()
	assert.Equal(t, "1w2d", string(b))
	var p Percent
	require.NoError(t, p.UnmarshalText([]byte("85%")))
	b, _ = p.MarshalText()
	assert.Equal(t, "85%", string(b))
	assert.True(t, strings.HasPrefix(units.FormatDuration(0), "0"))
}
