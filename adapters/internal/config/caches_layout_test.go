package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
)

// layoutFile writes a file of 64 bytes under root used (atime and mtime)
// ageDays ago.
func layoutFile(t *testing.T, root, rel string, ageDays float64) {
	p := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, make([]byte, 64), 0o644))
	tm := time.Now().Add(-time.Duration(ageDays * 24 * float64(time.Hour)))
	require.NoError(t, os.Chtimes(p, tm, tm))
}

// ageDirs times every directory under root (deepest first, so that
// setting a child's times does not refresh its parent) ageDays ago.
func ageDirs(t *testing.T, root string, ageDays float64) {
	var dirs []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	}))
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	tm := time.Now().Add(-time.Duration(ageDays * 24 * float64(time.Hour)))
	for _, d := range dirs {
		require.NoError(t, os.Chtimes(d, tm, tm))
	}
}

func listTree(t *testing.T, root string) map[string]bool {
	out := map[string]bool{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out[rel] = true
		}
		return err
	}))
	return out
}

// TestDefaultSweepsEachCacheLayout builds each cache the default sweeps
// as an entry-per-directory cache (Triton, torch.compile's inductor, vLLM,
// conda's packages) and CUDA's JIT cache, on disk, in the layout the tool
// writes, under the variables that move them elsewhere; loads the
// embedded default in that environment; and checks that the dry run plans
// exactly what goes and the real run removes exactly that: an entry goes
// whole when nothing in it was used for its rule's age, and stays whole
// when anything in it was.
func TestDefaultSweepsEachCacheLayout(t *testing.T) {
	base := t.TempDir()
	dir := func(n string) string { return filepath.Join(base, n) }
	// Triton: one directory per kernel hash (triton/runtime/cache.py).
	layoutFile(t, dir("triton"), "Q3VBTOLD/matmul_kernel.cubin", 30)
	layoutFile(t, dir("triton"), "Q3VBTOLD/matmul_kernel.json", 30)
	layoutFile(t, dir("triton"), "Q3VBTOLD/__grp__matmul_kernel.json", 30)
	layoutFile(t, dir("triton"), "7YHALF/softmax.cubin", 30)
	layoutFile(t, dir("triton"), "7YHALF/softmax.json", 0.5) // in use: the whole kernel stays
	// torch.compile: FX graphs, AOT autograd entries, generated code by the
	// first two characters of its hash, Inductor's own Triton cache.
	layoutFile(t, dir("inductor"), "fxgraph/ab/fabcdef/entry", 30)
	layoutFile(t, dir("inductor"), "aotautograd/cd/acdef/entry", 2)
	layoutFile(t, dir("inductor"), "xy/cxyz123.py", 30)
	layoutFile(t, dir("inductor"), "xy/cxyz123.so", 30)
	layoutFile(t, dir("inductor"), "triton/0/HASH/k.cubin", 30)
	// vLLM: torch_compile_cache/<hash>/rank_0_0/... and model info.
	layoutFile(t, dir("vllm"), "torch_compile_cache/0f1e/rank_0_0/backbone/inductor_cache/k.py", 30)
	layoutFile(t, dir("vllm"), "torch_compile_cache/77aa/rank_0_0/backbone/inductor_cache/k.py", 1)
	layoutFile(t, dir("vllm"), "modelinfos/org-model.json", 30)
	// CUDA's JIT cache: an index and hashed files; swept file by file.
	layoutFile(t, dir("cuda"), "index", 0.1)
	layoutFile(t, dir("cuda"), "0/1a/old", 40)
	layoutFile(t, dir("cuda"), "0/2b/new", 3)
	// conda: one directory and one tarball per package, urls.txt, cache.
	for _, pkgs := range []string{"pkgs1", "pkgs2"} {
		layoutFile(t, dir(pkgs), "numpy-1.26.4-py311h0/info/index.json", 40)
		layoutFile(t, dir(pkgs), "numpy-1.26.4-py311h0/lib/python3.11/site-packages/numpy/__init__.py", 40)
		layoutFile(t, dir(pkgs), "numpy-1.26.4-py311h0.conda", 40)
		layoutFile(t, dir(pkgs), "torch-2.5.0-py311/lib/libtorch.so", 40)
		layoutFile(t, dir(pkgs), "torch-2.5.0-py311/info/index.json", 3)
		layoutFile(t, dir(pkgs), "urls.txt", 40)
	}
	for _, n := range []string{"triton", "inductor", "vllm", "cuda", "pkgs1", "pkgs2"} {
		ageDirs(t, dir(n), 40)
	}
	env := []string{"HOME=" + dir("home"), "TRITON_CACHE_DIR=" + dir("triton"), "TORCHINDUCTOR_CACHE_DIR=" + dir("inductor"),
		"VLLM_CACHE_ROOT=" + dir("vllm"), "CUDA_CACHE_PATH=" + dir("cuda"), "CONDA_PKGS_DIRS=" + dir("pkgs1") + "," + dir("pkgs2")}
	cfg, err := Default(Options{Env: env})
	require.NoError(t, err)
	var rules []cleanup.Rule
	for _, r := range cfg.Sweep.Rules {
		// Only these caches: the default's /tmp rule must not touch the
		// machine's /tmp from a test.
		if slices.Contains([]string{"triton", "torchinductor", "vllm", "cuda", "conda-pkgs"}, r.Cache) {
			rules = append(rules, r.CleanupRule())
		}
	}
	require.Len(t, rules, 6, "conda's two package directories make two rules")

	before := listTree(t, base)
	s := &cleanup.Sweeper{Rules: rules}
	plan, err := s.Sweep(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, before, listTree(t, base), "a dry run deletes nothing")
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	rel := func(items []cleanup.Item) []string {
		var out []string
		for _, it := range items {
			r, _ := filepath.Rel(base, it.Path)
			out = append(out, r)
		}
		return out
	}
	assert.Equal(t, rel(plan.Items()), rel(rep.Items()), "the dry run lists what the real run deletes, in order")

	after := listTree(t, base)
	var removed []string
	for p := range before {
		if !after[p] {
			removed = append(removed, p)
		}
	}
	sort.Strings(removed)
	want := []string{
		"cuda/0/1a/old",
		"inductor/fxgraph", "inductor/fxgraph/ab", "inductor/fxgraph/ab/fabcdef", "inductor/fxgraph/ab/fabcdef/entry",
		"inductor/triton", "inductor/triton/0", "inductor/triton/0/HASH", "inductor/triton/0/HASH/k.cubin",
		"inductor/xy", "inductor/xy/cxyz123.py", "inductor/xy/cxyz123.so",
	}
	for _, pkgs := range []string{"pkgs1", "pkgs2"} {
		want = append(want, pkgs+"/numpy-1.26.4-py311h0", pkgs+"/numpy-1.26.4-py311h0.conda",
			pkgs+"/numpy-1.26.4-py311h0/info", pkgs+"/numpy-1.26.4-py311h0/info/index.json",
			pkgs+"/numpy-1.26.4-py311h0/lib", pkgs+"/numpy-1.26.4-py311h0/lib/python3.11",
			pkgs+"/numpy-1.26.4-py311h0/lib/python3.11/site-packages",
			pkgs+"/numpy-1.26.4-py311h0/lib/python3.11/site-packages/numpy",
			pkgs+"/numpy-1.26.4-py311h0/lib/python3.11/site-packages/numpy/__init__.py")
	}
	want = append(want, "triton/Q3VBTOLD", "triton/Q3VBTOLD/__grp__matmul_kernel.json", "triton/Q3VBTOLD/matmul_kernel.cubin",
		"triton/Q3VBTOLD/matmul_kernel.json", "vllm/modelinfos", "vllm/modelinfos/org-model.json")
	sort.Strings(want)
	assert.Equal(t, want, removed)
	got := rel(rep.Items())
	sort.Strings(got)
	assert.Equal(t, want, got, "the report lists exactly what went")
	for _, p := range []string{"triton/7YHALF/softmax.cubin", "inductor/aotautograd/cd/acdef/entry",
		"vllm/torch_compile_cache/0f1e/rank_0_0/backbone/inductor_cache/k.py", "cuda/index", "cuda/0/2b/new",
		"pkgs1/torch-2.5.0-py311/lib/libtorch.so", "pkgs1/urls.txt"} {
		assert.True(t, after[p], "%s stays", p)
	}
	for _, it := range rep.Items() {
		if strings.HasPrefix(it.Path, dir("triton")) {
			assert.Equal(t, cleanup.ReasonEntry, it.Reason, it.Path)
		}
	}
}
