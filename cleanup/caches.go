package cleanup

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Env looks up an environment variable, as os.LookupEnv does. Resolving a
// cache through an Env instead of the process environment lets a service
// resolve the caches of another container or user, and tests pin every
// variable.
type Env func(key string) (string, bool)

// ErrNotLocated is returned (wrapped) when this environment does not say
// where a cache is: the tool itself would not find it either (ErrNoHome,
// or no user name for a per-user directory). A caller leaves such a cache
// out rather than guess.
var ErrNotLocated = errors.New("cache cannot be located")

// ErrNoHome is returned (wrapped) when a cache lives under the home
// directory and the home directory is unknown: HOME unset, empty or "/"
// (containers started with an arbitrary uid, `docker run --user 4242`,
// OpenShift). Such a cache cannot be located, and sweeping "/" or "/.cache"
// in its place would be wrong. It wraps ErrNotLocated.
var ErrNoHome = fmt.Errorf("%w: home directory unknown", ErrNotLocated)

// ErrUnknownCache is returned (wrapped) for a cache name that is not in
// the table of known caches (Caches).
var ErrUnknownCache = errors.New("unknown cache")

// Cache is a cache that a tool of the PyTorch/CUDA stack writes, found the
// way the tool itself finds it: its own variables first, in the tool's order
// of precedence, then the shared fallbacks (HF_HOME, XDG_CACHE_HOME, TMPDIR),
// then the default under the home directory.
type Cache struct {
	// Name is what a rule writes (`cache: huggingface-hub`).
	Name string
	// Tool is the program that writes the cache.
	Tool string
	// Vars are the environment variables that move the cache, in the order
	// the tool consults them.
	Vars []string
	// Default is where the cache lives when no variable is set, as the tool
	// documents it ("~" is the home directory).
	Default string
	// Layout is how the cache is organised, and the layout a rule naming
	// it gets unless it says otherwise: LayoutHuggingFace for the hub
	// (whole revisions go), LayoutEntries for caches made of one directory
	// per entry, LayoutPlain otherwise.
	Layout Layout
	// Entries is true for caches made of one directory per entry (a kernel
	// hash, a package): such an entry must be aged and deleted as one unit
	// (LayoutEntries), since deleting half of it leaves a broken entry that
	// the tool may still load.
	Entries bool
	// Multi is true when the location may be a list (CONDA_PKGS_DIRS).
	Multi bool

	resolve func(r resolver) ([]string, error)
}

// Roots returns the directories of the cache under env, cleaned and
// absolute. It fails with ErrNoHome when the cache would lie under an
// unknown home directory, and names the variable whose value is not an
// absolute path.
func (c Cache) Roots(env Env) ([]string, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	roots, err := c.resolve(resolver{env: env})
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", c.Name, err)
	}
	return roots, nil
}

// Caches returns the table of known caches, sorted by name.
func Caches() []Cache {
	out := append([]Cache(nil), knownCaches...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupCache returns the known cache of that name, or an error wrapping
// ErrUnknownCache that lists the known names.
func LookupCache(name string) (Cache, error) {
	for _, c := range knownCaches {
		if c.Name == name {
			return c, nil
		}
	}
	names := make([]string, 0, len(knownCaches))
	for _, c := range Caches() {
		names = append(names, c.Name)
	}
	return Cache{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownCache, name, strings.Join(names, ", "))
}

// resolver applies the lookup rules shared by the tools: a variable set to
// the empty string counts as unset (as Python's `os.getenv(X) or default`
// and the XDG specification treat it), "~" at the start expands to the
// home directory, and a relative value is refused, naming the variable.
type resolver struct{ env Env }

func (r resolver) get(key string) (string, bool) {
	v, ok := r.env(key)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

func (r resolver) home() (string, error) {
	h, ok := r.get("HOME")
	h = filepath.Clean(h)
	if !ok || h == "/" || !filepath.IsAbs(h) {
		return "", fmt.Errorf("%w: HOME is %s", ErrNoHome, describeHome(h, ok))
	}
	return h, nil
}

func describeHome(h string, ok bool) string {
	if !ok {
		return "unset or empty"
	}
	return fmt.Sprintf("%q", h)
}

// path expands "~" and checks that the result is absolute; from names the
// variable (or default) the value came from, for the error.
func (r resolver) path(v, from string) (string, error) {
	if v == "~" || strings.HasPrefix(v, "~/") {
		h, err := r.home()
		if err != nil {
			return "", fmt.Errorf("%s %q: %w", from, v, err)
		}
		v = h + v[1:]
	}
	if !filepath.IsAbs(v) {
		return "", fmt.Errorf("%s %q is not an absolute path", from, v)
	}
	return filepath.Clean(v), nil
}

// first returns the first set variable of keys as a path, or the fallback
// computed by def when none is set.
func (r resolver) first(keys []string, def func() (string, error)) (string, error) {
	for _, k := range keys {
		if v, ok := r.get(k); ok {
			return r.path(v, "$"+k)
		}
	}
	return def()
}

func (r resolver) underHome(rel string) func() (string, error) {
	return func() (string, error) { return r.path("~/"+rel, "default ~/"+rel) }
}

// xdgCache is $XDG_CACHE_HOME, else ~/.cache.
func (r resolver) xdgCache() (string, error) {
	return r.first([]string{"XDG_CACHE_HOME"}, r.underHome(".cache"))
}

func (r resolver) xdgCacheJoin(name string) func() (string, error) {
	return func() (string, error) {
		d, err := r.xdgCache()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, name), nil
	}
}

// hfHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface (huggingface_hub's constants.py and datasets'
// config.py agree).
func (r resolver) hfHome() (string, error) {
	return r.first([]string{"HF_HOME"}, r.xdgCacheJoin("huggingface"))
}

func (r resolver) hfHomeJoin(name string) func() (string, error) {
	return func() (string, error) {
		d, err := r.hfHome()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, name), nil
	}
}

// tmpDir is Python's tempfile.gettempdir() without its writability probe:
// $TMPDIR, $TEMP, $TMP, else /tmp.
func (r resolver) tmpDir() (string, error) {
	return r.first([]string{"TMPDIR", "TEMP", "TMP"}, func() (string, error) { return "/tmp", nil })
}

// user is getpass.getuser(): $LOGNAME, $USER, $LNAME, $USERNAME; torch then
// replaces characters that are not allowed in a file name.
func (r resolver) user() (string, bool) {
	for _, k := range []string{"LOGNAME", "USER", "LNAME", "USERNAME"} {
		if v, ok := r.get(k); ok {
			return strings.Map(func(c rune) rune {
				if strings.ContainsRune(`\/:*?"<>|`, c) {
					return '_'
				}
				return c
			}, v), true
		}
	}
	return "", false
}

func one(p string, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return []string{p}, nil
}

// knownCaches is the table behind `cache:` in a sweep rule. Each entry
// follows the tool's own lookup, as its documentation and source give it;
// README.md prints the same table.
var knownCaches = []Cache{
	{
		Name: "torch", Tool: "PyTorch (torch.hub checkpoints, kernels)",
		Vars: []string{"TORCH_HOME", "XDG_CACHE_HOME"}, Default: "~/.cache/torch", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"TORCH_HOME"}, r.xdgCacheJoin("torch")))
		},
	},
	{
		Name: "huggingface-hub", Tool: "huggingface_hub (transformers, diffusers, huggingface-cli)",
		Vars: []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"}, Default: "~/.cache/huggingface/hub", Layout: LayoutHuggingFace,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}, r.hfHomeJoin("hub")))
		},
	},
	{
		Name: "huggingface-datasets", Tool: "datasets",
		Vars: []string{"HF_DATASETS_CACHE", "HF_HOME", "XDG_CACHE_HOME"}, Default: "~/.cache/huggingface/datasets", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"HF_DATASETS_CACHE"}, r.hfHomeJoin("datasets")))
		},
	},
	{
		Name: "huggingface-xet", Tool: "huggingface_hub with hf-xet (chunk cache)",
		Vars: []string{"HF_XET_CACHE", "HF_HOME", "XDG_CACHE_HOME"}, Default: "~/.cache/huggingface/xet", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"HF_XET_CACHE"}, r.hfHomeJoin("xet")))
		},
	},
	{
		Name: "pip", Tool: "pip (wheels and HTTP cache)",
		Vars: []string{"PIP_CACHE_DIR", "XDG_CACHE_HOME"}, Default: "~/.cache/pip", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"PIP_CACHE_DIR"}, r.xdgCacheJoin("pip")))
		},
	},
	{
		// triton/runtime/cache.py: TRITON_CACHE_DIR, else
		// <TRITON_HOME or the home directory>/.triton/cache; one directory
		// per kernel hash.
		Name: "triton", Tool: "Triton (compiled kernels, one directory per hash)",
		Vars: []string{"TRITON_CACHE_DIR", "TRITON_HOME"}, Default: "~/.triton/cache", Layout: LayoutEntries, Entries: true,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"TRITON_CACHE_DIR"}, func() (string, error) {
				if base, ok := r.get("TRITON_HOME"); ok {
					p, err := r.path(base, "$TRITON_HOME")
					if err != nil {
						return "", err
					}
					return filepath.Join(p, ".triton", "cache"), nil
				}
				return r.path("~/.triton/cache", "default ~/.triton/cache")
			}))
		},
	},
	{
		// torch/_inductor/runtime/cache_dir_utils.py: TORCHINDUCTOR_CACHE_DIR,
		// else tempfile.gettempdir()/torchinductor_<getpass.getuser() with
		// \/:*?"<>| replaced by _>.
		Name: "torchinductor", Tool: "torch.compile (inductor: FX graphs, autotuning, kernels)",
		Vars: []string{"TORCHINDUCTOR_CACHE_DIR", "TMPDIR", "TEMP", "TMP", "LOGNAME", "USER"}, Default: "/tmp/torchinductor_$USER", Layout: LayoutEntries, Entries: true,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"TORCHINDUCTOR_CACHE_DIR"}, func() (string, error) {
				tmp, err := r.tmpDir()
				if err != nil {
					return "", err
				}
				u, ok := r.user()
				if !ok {
					return "", fmt.Errorf("%w: the user name is unknown ($LOGNAME, $USER, $LNAME and $USERNAME unset); set TORCHINDUCTOR_CACHE_DIR", ErrNotLocated)
				}
				return filepath.Join(tmp, "torchinductor_"+u), nil
			}))
		},
	},
	{
		// vllm/envs.py: VLLM_CACHE_ROOT, else <XDG_CACHE_HOME or
		// ~/.cache>/vllm; its torch.compile cache is
		// torch_compile_cache/<hash> below it.
		Name: "vllm", Tool: "vLLM (torch.compile cache, model info)",
		Vars: []string{"VLLM_CACHE_ROOT", "XDG_CACHE_HOME"}, Default: "~/.cache/vllm", Layout: LayoutEntries, Entries: true,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"VLLM_CACHE_ROOT"}, r.xdgCacheJoin("vllm")))
		},
	},
	{
		// CUDA C Programming Guide, "CUDA Environment Variables":
		// CUDA_CACHE_PATH, default ~/.nv/ComputeCache on Linux; the driver
		// bounds it itself (CUDA_CACHE_MAXSIZE).
		Name: "cuda", Tool: "CUDA driver JIT (PTX compiled for this GPU)",
		Vars: []string{"CUDA_CACHE_PATH"}, Default: "~/.nv/ComputeCache", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"CUDA_CACHE_PATH"}, r.underHome(".nv/ComputeCache")))
		},
	},
	{
		Name: "wandb", Tool: "Weights & Biases (artifact cache)",
		Vars: []string{"WANDB_CACHE_DIR", "XDG_CACHE_HOME"}, Default: "~/.cache/wandb", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			return one(r.first([]string{"WANDB_CACHE_DIR"}, r.xdgCacheJoin("wandb")))
		},
	},
	{
		Name: "wandb-staging", Tool: "Weights & Biases (artifact staging before upload)",
		Vars: []string{"WANDB_DATA_DIR", "XDG_DATA_HOME"}, Default: "~/.local/share/wandb/artifacts/staging", Layout: LayoutPlain,
		resolve: func(r resolver) ([]string, error) {
			base, err := r.first([]string{"WANDB_DATA_DIR"}, func() (string, error) {
				d, err := r.first([]string{"XDG_DATA_HOME"}, r.underHome(".local/share"))
				if err != nil {
					return "", err
				}
				return filepath.Join(d, "wandb"), nil
			})
			if err != nil {
				return nil, err
			}
			return []string{filepath.Join(base, "artifacts", "staging")}, nil
		},
	},
	{
		// conda/base/context.py (pkgs_dirs): CONDA_PKGS_DIRS, a comma-separated
		// list, else the root prefix's pkgs (and ~/.conda/pkgs when that is
		// not writable); one directory (and tarball) per package.
		Name: "conda-pkgs", Tool: "conda / mamba (downloaded and extracted packages)",
		Vars: []string{"CONDA_PKGS_DIRS", "CONDA_PREFIX"}, Default: "the base environment's pkgs ($CONDA_PREFIX, or its ../.. for envs/NAME), else ~/.conda/pkgs", Layout: LayoutEntries, Entries: true, Multi: true,
		resolve: func(r resolver) ([]string, error) {
			if v, ok := r.get("CONDA_PKGS_DIRS"); ok {
				var out []string
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p == "" {
						continue
					}
					q, err := r.path(p, "$CONDA_PKGS_DIRS entry")
					if err != nil {
						return nil, err
					}
					out = append(out, q)
				}
				if len(out) > 0 {
					return out, nil
				}
			}
			if v, ok := r.get("CONDA_PREFIX"); ok {
				p, err := r.path(v, "$CONDA_PREFIX")
				if err != nil {
					return nil, err
				}
				// An activated environment other than base lives in
				// ROOT/envs/NAME; its packages are in ROOT/pkgs.
				if i := strings.LastIndex(p, "/envs/"); i > 0 && !strings.Contains(p[i+len("/envs/"):], "/") {
					p = p[:i]
				}
				return []string{filepath.Join(p, "pkgs")}, nil
			}
			return one(r.path("~/.conda/pkgs", "default ~/.conda/pkgs"))
		},
	},
}
