package config

import (
	"fmt"
	"strings"
)

// Sweep configures the cleanup task (package cleanup).
type Sweep struct {
	// Schedule is a cron expression or @hourly/@daily/@weekly/@every 6h.
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// Protect lists paths never touched, even under a root.
	Protect []Path `yaml:"protect,omitempty" json:"protect,omitempty"`
	// MaxDeletions caps deletions per run; 0 means no limit.
	MaxDeletions int `yaml:"max_deletions,omitempty" json:"max_deletions,omitempty"`
	// Rules name the roots to sweep and how.
	Rules []SweepRule `yaml:"rules,omitempty" json:"rules,omitempty"`
	// LeftOut lists the rules (and protect paths) that cannot be located
	// in this environment and were left out when the config was loaded;
	// the other rules run.
	LeftOut []LeftOut `yaml:"-" json:"left_out,omitempty"`
}

// SweepRule is one root and the policy applied under it.
type SweepRule struct {
	// Path is the root; it may use ${VAR} and ${VAR:-default}.
	Path Path `yaml:"path,omitempty" json:"path,omitempty"`
	// Cache names a known cache instead of a path (cleanup.Caches: torch,
	// huggingface-hub, pip, ...), found through the variables the tool
	// itself reads (HF_HOME, XDG_CACHE_HOME, ...).
	Cache string `yaml:"cache,omitempty" json:"cache,omitempty"`
	// Layout is "plain" (default; a cache's own layout for `cache:`),
	// "huggingface" (whole revisions) or "entries" (each child of the root
	// one unit, aged by the newest use inside it, deleted whole).
	Layout string `yaml:"layout,omitempty" json:"layout,omitempty"`
	// OlderThan is the age past which entries are deleted.
	OlderThan Duration `yaml:"older_than,omitempty" json:"older_than,omitempty"`
	// Age is "atime" (default), "mtime" or "newest".
	Age string `yaml:"age,omitempty" json:"age,omitempty"`
	// KeepUnder is an optional size budget: least recently used go first.
	KeepUnder *Size `yaml:"keep_under,omitempty" json:"keep_under,omitempty"`
	// Include, when set, limits deletion to entries matching one of these globs.
	Include []string `yaml:"include,omitempty" json:"include,omitempty"`
	// Exclude lists globs never deleted (a matching directory is not entered).
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// Within, when set, limits deletion to the contents of directories with
	// one of these base names (".ipynb_checkpoints") anywhere under Path; it
	// allows Path to be $HOME itself.
	Within []string `yaml:"within,omitempty" json:"within,omitempty"`
	// KeepRefs, with layout huggingface, names refs ("main") whose
	// revisions stay whatever their age: a container serving offline
	// (HF_HUB_OFFLINE=1) loads the model refs/main names.
	KeepRefs []string `yaml:"keep_refs,omitempty" json:"keep_refs,omitempty"`
	// MissingOK makes a missing root a note instead of an error.
	MissingOK bool `yaml:"missing_ok,omitempty" json:"missing_ok,omitempty"`

	leftOut *LeftOut // set by locate: not located here, left out by split
	extra   []string // set by locate: further directories of the cache
}

// validate checks the sweep section; a nil section has nothing to check.
func (s *Sweep) validate(c *checker) {
	if s == nil {
		return
	}
	c.schedule("sweep.schedule", s.Schedule)
	c.nonNegative("sweep.max_deletions", s.MaxDeletions)
	for i, r := range s.Rules {
		f := fmt.Sprintf("sweep.rules[%d]", i)
		if r.leftOut != nil || (r.Cache != "" && r.Path == "") {
			continue // left out, or the cache's problem is already named
		}
		if strings.TrimSpace(string(r.Path)) == "" {
			c.add(f+".path", "a rule needs a path or a cache (a bare ~ is YAML for null: write \"~\" for the home directory)")
		}
		if r.KeepUnder != nil && r.KeepUnder.Bytes() <= 0 {
			c.add(f+".keep_under", "must be a positive size")
		}
		if p := string(r.Path); p != "" && !strings.HasPrefix(p, "/") && !unexpanded(p) {
			c.add(f+".path", "%q is not an absolute path (or ~/...)", p)
		}
	}
	s.validateRules(c)
	for i, p := range s.Protect {
		if unexpanded(string(p)) {
			continue // under an unknown home: nothing there is swept either
		} else if !strings.HasPrefix(string(p), "/") {
			c.add(fmt.Sprintf("sweep.protect[%d]", i), "%q is not an absolute path (or ~/...)", p)
		}
	}
}
