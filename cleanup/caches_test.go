package cleanup_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/internal/testenv"
)

// envOf is an Env that sees only vars.
func envOf(vars map[string]string) cleanup.Env {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestCacheRoots(t *testing.T) {
	home := map[string]string{"HOME": "/home/u", "USER": "u"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range home {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		cache string
		env   map[string]string
		want  []string
	}{
		{"torch", home, []string{"/home/u/.cache/torch"}},
		{"torch", with("XDG_CACHE_HOME", "/xdg"), []string{"/xdg/torch"}},
		{"torch", with("TORCH_HOME", "/t", "XDG_CACHE_HOME", "/xdg"), []string{"/t"}},
		{"torch", with("TORCH_HOME", "~/t/"), []string{"/home/u/t"}},
		{"huggingface-hub", home, []string{"/home/u/.cache/huggingface/hub"}},
		{"huggingface-hub", with("XDG_CACHE_HOME", "/xdg"), []string{"/xdg/huggingface/hub"}},
		{"huggingface-hub", with("HF_HOME", "/data/hf", "XDG_CACHE_HOME", "/xdg"), []string{"/data/hf/hub"}},
		{"huggingface-hub", with("HUGGINGFACE_HUB_CACHE", "/old", "HF_HOME", "/data/hf"), []string{"/old"}},
		{"huggingface-hub", with("HF_HUB_CACHE", "/new", "HUGGINGFACE_HUB_CACHE", "/old"), []string{"/new"}},
		{"huggingface-hub", with("HF_HUB_CACHE", "", "HF_HOME", "/data/hf"), []string{"/data/hf/hub"}},
		{"huggingface-datasets", with("HF_HOME", "/data/hf"), []string{"/data/hf/datasets"}},
		{"huggingface-datasets", with("HF_DATASETS_CACHE", "/ds", "HF_HOME", "/data/hf"), []string{"/ds"}},
		{"huggingface-xet", with("HF_HOME", "/data/hf"), []string{"/data/hf/xet"}},
		{"huggingface-xet", with("HF_XET_CACHE", "/x"), []string{"/x"}},
		{"pip", home, []string{"/home/u/.cache/pip"}},
		{"pip", with("PIP_CACHE_DIR", "/p", "XDG_CACHE_HOME", "/xdg"), []string{"/p"}},
		{"triton", home, []string{"/home/u/.triton/cache"}},
		{"triton", with("TRITON_HOME", "/th"), []string{"/th/.triton/cache"}},
		{"triton", with("TRITON_CACHE_DIR", "/tc", "TRITON_HOME", "/th"), []string{"/tc"}},
		{"torchinductor", home, []string{"/tmp/torchinductor_u"}},
		{"torchinductor", with("TMPDIR", "/scratch", "LOGNAME", "a:b"), []string{"/scratch/torchinductor_a_b"}},
		{"torchinductor", map[string]string{"TORCHINDUCTOR_CACHE_DIR": "/ind"}, []string{"/ind"}},
		{"vllm", with("XDG_CACHE_HOME", "/xdg"), []string{"/xdg/vllm"}},
		{"vllm", with("VLLM_CACHE_ROOT", "/v"), []string{"/v"}},
		{"cuda", home, []string{"/home/u/.nv/ComputeCache"}},
		{"cuda", map[string]string{"CUDA_CACHE_PATH": "/cc"}, []string{"/cc"}},
		{"wandb", home, []string{"/home/u/.cache/wandb"}},
		{"wandb", with("WANDB_CACHE_DIR", "/wc"), []string{"/wc"}},
		{"wandb-staging", home, []string{"/home/u/.local/share/wandb/artifacts/staging"}},
		{"wandb-staging", with("WANDB_DATA_DIR", "/wd"), []string{"/wd/artifacts/staging"}},
		{"conda-pkgs", home, []string{"/home/u/.conda/pkgs"}},
		{"conda-pkgs", with("CONDA_PREFIX", "/opt/conda"), []string{"/opt/conda/pkgs"}},
		{"conda-pkgs", with("CONDA_PREFIX", "/opt/conda/envs/py311"), []string{"/opt/conda/pkgs"}},
		{"conda-pkgs", with("CONDA_PKGS_DIRS", "/a/pkgs, ~/b ,", "CONDA_PREFIX", "/opt/conda"), []string{"/a/pkgs", "/home/u/b"}},
	}
	for _, tt := range tests {
		c, err := cleanup.LookupCache(tt.cache)
		require.NoError(t, err)
		got, err := c.Roots(envOf(tt.env))
		if assert.NoError(t, err, "%s %v", tt.cache, tt.env) {
			assert.Equal(t, tt.want, got, "%s %v", tt.cache, tt.env)
		}
	}
}

// A cache under an unknown home directory cannot be located: HOME unset,
// empty or "/" (docker run --user 4242), or relative. A variable that moves
// the cache elsewhere still works.
func TestCacheRootsWithoutHome(t *testing.T) {
	for _, env := range []map[string]string{{}, {"HOME": ""}, {"HOME": "/"}, {"HOME": "//"}, {"HOME": "rel"}} {
		for _, c := range cleanup.Caches() {
			if c.Name == "torchinductor" {
				continue // under $TMPDIR, not $HOME
			}
			_, err := c.Roots(envOf(env))
			assert.ErrorIs(t, err, cleanup.ErrNoHome, "%s with %v", c.Name, env)
		}
	}
	hub, err := cleanup.LookupCache("huggingface-hub")
	require.NoError(t, err)
	got, err := hub.Roots(envOf(map[string]string{"HOME": "/", "HF_HOME": "/data/hf"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"/data/hf/hub"}, got)
}

func TestCacheRootsRefuseRelative(t *testing.T) {
	hub, err := cleanup.LookupCache("huggingface-hub")
	require.NoError(t, err)
	_, err = hub.Roots(envOf(map[string]string{"HOME": "/h", "HF_HOME": "data/hf"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `$HF_HOME "data/hf" is not an absolute path`)
	assert.False(t, errors.Is(err, cleanup.ErrNoHome))
}

func TestLookupCacheUnknown(t *testing.T) {
	_, err := cleanup.LookupCache("huggingface")
	require.ErrorIs(t, err, cleanup.ErrUnknownCache)
	assert.Contains(t, err.Error(), `"huggingface"`)
	assert.Contains(t, err.Error(), "huggingface-hub", "the error lists the known names")
}

// Every known cache resolves, under any home, to clean absolute paths that
// are never a dangerous root and never the home directory itself.
func TestCacheTableInvariants(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range cleanup.Caches() {
		assert.False(t, seen[c.Name], "duplicate %s", c.Name)
		seen[c.Name] = true
		assert.NotEmpty(t, c.Tool)
		assert.NotEmpty(t, c.Vars)
		assert.NotEmpty(t, c.Default)
		for _, home := range []string{"/home/u", "/root", "/h/with space"} {
			roots, err := c.Roots(envOf(map[string]string{"HOME": home, "USER": "u"}))
			require.NoError(t, err, c.Name)
			for _, r := range roots {
				assert.True(t, filepath.IsAbs(r) && filepath.Clean(r) == r, "%s: %q", c.Name, r)
				assert.NotEqual(t, home, r, c.Name)
				assert.NotContains(t, []string{"/", "/tmp", "/home", "/root"}, r, c.Name)
			}
		}
	}
}

// The table agrees with the tools themselves where they are installed:
// torch.hub.get_dir() and `pip cache dir` under the same variables.
func TestCacheRootsMatchRealTools(t *testing.T) {
	type probe struct {
		cache, sub string
		argv       []string // argv[0] is a placeholder for the interpreter
	}
	probes := []probe{
		{"torch", "hub", []string{"python3", "-c", "import torch.hub; print(torch.hub.get_dir())"}},
		{"pip", "", []string{"python3", "-m", "pip", "cache", "dir"}},
	}
	envs := []map[string]string{
		{"HOME": "/home/u"},
		{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"},
		{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg", "TORCH_HOME": "/th", "PIP_CACHE_DIR": "/pc"},
	}
	for _, p := range probes {
		// Debian's python3 (with python3-torch) may not be the first
		// python3 on PATH (pyenv); take the first one the probe runs on.
		var python string
		for _, cand := range []string{"/usr/bin/python3", "python3"} {
			if err := exec.Command(cand, p.argv[1:]...).Run(); err == nil {
				python = cand
				break
			}
		}
		if python == "" {
			testenv.Missing(t, "no python3 runs %q (apt-get install python3-torch python3-pip)", strings.Join(p.argv, " "))
		}
		c, err := cleanup.LookupCache(p.cache)
		require.NoError(t, err)
		for _, env := range envs {
			cmd := exec.Command(python, p.argv[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.Output()
			require.NoError(t, err, "%v", p.argv)
			roots, err := c.Roots(envOf(env))
			require.NoError(t, err)
			assert.Equal(t, strings.TrimSpace(string(out)), filepath.Join(roots[0], p.sub), "%s under %v", p.cache, env)
		}
	}
}
