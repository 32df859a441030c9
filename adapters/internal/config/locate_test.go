package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rulePaths(cfg *Config) []string {
	var out []string
	for _, r := range cfg.Sweep.Rules {
		out = append(out, string(r.Path))
	}
	return out
}

// HOME unset, empty or "/" (docker run --user 4242, OpenShift): the rules
// under the home directory are left out, each named once with why; the
// rest run, and caches moved elsewhere by their variables are still swept.
// torchinductor's directory is named after the user: with no user name
// (no LOGNAME, USER, ... and no password entry) it is left out too.
func TestDefaultWithoutHome(t *testing.T) {
	for _, env := range [][]string{{}, {"HOME="}, {"HOME=/"}, {"HOME=//"}} {
		cfg, err := Default(Options{Env: env})
		require.NoError(t, err, "%v", env)
		assert.Equal(t, []string{"/tmp"}, rulePaths(cfg), "%v", env)
		require.Len(t, cfg.Sweep.LeftOut, 13, "%v", env)
		for _, l := range cfg.Sweep.LeftOut {
			assert.Regexp(t, `^sweep\.rules\[\d+\]$`, l.Field)
			if l.Rule == "cache: torchinductor" {
				assert.Contains(t, l.Reason, "the user name is unknown")
			} else {
				assert.Contains(t, l.Reason, "HOME is")
			}
		}
		assert.Equal(t, "cache: torch", cfg.Sweep.LeftOut[0].Rule)
		assert.Equal(t, "~", cfg.Sweep.LeftOut[12].Rule)
	}
	cfg, err := Default(Options{Env: []string{"HOME=/", "HF_HOME=/data/hf"}, User: "x"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/data/hf/hub", "/data/hf/datasets", "/data/hf/xet", "/tmp/torchinductor_x", "/tmp"}, rulePaths(cfg),
		"the user name from the password database, as getpass.getuser() falls back to it")
	assert.Equal(t, "huggingface", cfg.Sweep.Rules[0].Layout, "the hub cache keeps its layout")
	assert.Equal(t, []string{"main"}, cfg.Sweep.Rules[0].KeepRefs, "the default keeps what refs/main names")
	assert.Equal(t, "entries", cfg.Sweep.Rules[3].Layout)
	assert.Len(t, cfg.Sweep.LeftOut, 9)
}

// A platform image that sets HF_HOME=/data/hf gets its hub swept there;
// every cache of the default is found where its variable moves it.
func TestDefaultHonoursCacheVariables(t *testing.T) {
	cfg, err := Default(Options{Env: []string{"HOME=/home/u", "HF_HOME=/data/hf", "XDG_CACHE_HOME=/xdg",
		"TORCH_HOME=/models/torch", "PIP_CACHE_DIR=/pc", "WANDB_CACHE_DIR=/wc", "WANDB_DATA_DIR=/wd",
		"TRITON_CACHE_DIR=/tc", "TORCHINDUCTOR_CACHE_DIR=/ic", "VLLM_CACHE_ROOT=/vc", "CUDA_CACHE_PATH=/cc",
		"CONDA_PKGS_DIRS=/p1, /p2"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"/models/torch", "/data/hf/hub", "/data/hf/datasets", "/data/hf/xet", "/pc", "/wc",
		"/wd/artifacts/staging", "/tc", "/ic", "/vc", "/cc", "/p1", "/p2", "/home/u", "/tmp"}, rulePaths(cfg))
	assert.Empty(t, cfg.Sweep.LeftOut)
	layouts := map[string]string{}
	for _, r := range cfg.Sweep.Rules {
		layouts[string(r.Path)] = r.Layout
	}
	for _, p := range []string{"/tc", "/ic", "/vc", "/p1", "/p2"} {
		assert.Equal(t, "entries", layouts[p], p)
	}
	assert.Equal(t, "", layouts["/cc"])
}

func TestCacheRuleErrors(t *testing.T) {
	doc := `sweep:
  rules:
    - cache: huggingface
      older_than: 7d
    - cache: pip
      path: /x
      older_than: 7d
    - cache: huggingface-hub
      older_than: 7d
    - older_than: 7d
`
	_, err := Parse("t.yaml", []byte(doc), Options{Env: []string{"HOME=/h", "HF_HOME=rel/hf"}})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `t.yaml:3: field sweep.rules[0].cache: unknown cache "huggingface" (known: `)
	assert.Contains(t, msg, `t.yaml:5: field sweep.rules[1].cache: cache "pip" and path "/x" are exclusive`)
	assert.Contains(t, msg, `t.yaml:8: field sweep.rules[2].cache: cache huggingface-hub: $HF_HOME "rel/hf" is not an absolute path`)
	assert.Contains(t, msg, `field sweep.rules[3].path: a rule needs a path or a cache`)
	assert.Equal(t, 4, strings.Count(msg, "t.yaml:"), msg)
}

func TestPathVariables(t *testing.T) {
	doc := `sweep:
  protect: ["${DATA:-/data}/keep"]
  rules:
    - path: ${SCRATCH}/cache
      older_than: 7d
    - path: ${MISSING:-/fallback}/x
      older_than: 7d
    - path: /cost$$/${EMPTY:-/e}/$HOME
      older_than: 7d
`
	cfg, err := Parse("t.yaml", []byte(doc), Options{Env: []string{"HOME=/h", "SCRATCH=/scratch", "EMPTY="}})
	require.NoError(t, err)
	assert.Equal(t, []string{"/scratch/cache", "/fallback/x", "/cost$//e/$HOME"}, rulePaths(cfg))
	assert.Equal(t, Path("/data/keep"), cfg.Sweep.Protect[0])

	_, err = Parse("t.yaml", []byte("sweep:\n  rules:\n    - path: ${NOPE}/x\n      older_than: 1d\n    - path: /a/${1X}\n      older_than: 1d\n    - path: /a/${OPEN\n      older_than: 1d\n"), Options{Env: []string{}})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `t.yaml:3: field sweep.rules[0].path: "${NOPE}/x": $NOPE is not set and has no default (write ${NOPE:-DEFAULT})`)
	assert.Contains(t, msg, `t.yaml:5: field sweep.rules[1].path: "/a/${1X}": ${1X} is not a variable name`)
	assert.Contains(t, msg, `t.yaml:7: field sweep.rules[2].path: "/a/${OPEN": ${ at offset 3 is not closed by }`)
}

// Several package directories (CONDA_PKGS_DIRS) make one rule each.
func TestMultiDirectoryCache(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte("sweep:\n  rules:\n    - cache: conda-pkgs\n      older_than: 30d\n    - path: /tmp\n      older_than: 1d\n"),
		Options{Env: []string{"HOME=/h", "CONDA_PKGS_DIRS=/a/pkgs,/b/pkgs"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"/a/pkgs", "/b/pkgs", "/tmp"}, rulePaths(cfg))
	assert.Equal(t, cfg.Sweep.Rules[0].OlderThan, cfg.Sweep.Rules[1].OlderThan)
}

func FuzzExpandVars(f *testing.F) {
	for _, s := range []string{"${A}", "${A:-b}", "$$", "$", "${", "a${B}c${A:-${x}}", "${:-x}", "\xff${A}"} {
		f.Add(s)
	}
	env := map[string]string{"A": "1", "B": "", "HOME": "/h"}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ExpandVars(s, env)
		if err != nil {
			return
		}
		if !strings.Contains(s, "$") {
			assert.Equal(t, s, out, "text without $ is unchanged")
		}
		assert.LessOrEqual(t, len(out), len(s)+len("1")*strings.Count(s, "${A"), "expansion only adds the values")
	})
}
