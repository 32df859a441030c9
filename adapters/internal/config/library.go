package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/internal/fielderr"
	"github.com/tendkit/tend/rotate"
	"github.com/tendkit/tend/units"
)

// The packages validate their own rules (Rule.Validate, Policy.Validate,
// the health checks' Validate): the config layer converts each section
// item, calls them, and places what they find at the item's file, line and
// field. Its own checks are only those the YAML alone can tell: a field
// left out versus set to zero, "~" without a home directory, schedules,
// profiles, and text that names something (modes, signals).

// CleanupRule is the rule the sweep task runs for this item.
func (r SweepRule) CleanupRule() cleanup.Rule {
	cr := cleanup.Rule{
		Root: string(r.Path), Layout: cleanup.Layout(r.Layout), OlderThan: r.OlderThan.D(),
		Age: cleanup.AgeBasis(r.Age), Include: r.Include, Exclude: r.Exclude, Within: r.Within,
		KeepRefs: r.KeepRefs, MissingOK: r.MissingOK,
	}
	if r.KeepUnder != nil {
		cr.KeepUnder = r.KeepUnder.Bytes()
	}
	return cr
}

// RotateRule is the rule the rotate task runs for this item, before the
// owner and group names of create are looked up (Create.UID and GID are -1:
// unchanged): Keep is rotate.DefaultKeep when keep is left out; after a
// rename a new file always takes the old one's place (Create is set for
// method rename, with create's mode when given); postrotate and signal
// (its name parsed) are carried over. Values the config's own checks
// refuse (a mode that is not octal, an unknown signal) are left at zero.
func (f RotateFile) RotateRule() rotate.Rule {
	rule := rotate.Rule{
		Path: string(f.Path), Every: f.Every.D(), Keep: rotate.DefaultKeep, MaxAge: f.MaxAge.D(),
		Compress: rotate.Compression(f.Compress), DelayCompress: f.DelayCompress, DateExt: f.DateExt,
		Method: rotate.Method(f.Method), MissingOK: f.MissingOK, IfEmpty: f.IfEmpty,
	}
	if f.Size != nil {
		rule.Size = f.Size.Bytes()
	}
	if f.Keep != nil {
		rule.Keep = *f.Keep // 0: no backup is kept, as logrotate's rotate 0
	}
	if f.Create != nil || rule.Method != rotate.MethodCopyTruncate {
		rule.Create = &rotate.Create{UID: -1, GID: -1}
		if f.Create != nil {
			if m, ok := fileMode(f.Create.Mode); ok {
				rule.Create.Mode = m
			}
		}
	}
	if pr := f.PostRotate; pr != nil {
		rule.PostRotate = &rotate.Command{Argv: pr.Command, Timeout: pr.Timeout.D()}
	}
	if s := f.Signal; s != nil {
		rule.Signal = &rotate.Signal{Pidfile: string(s.Pidfile)}
		if s.Name != "" {
			rule.Signal.Signal, _ = rotate.ParseSignal(s.Name)
		}
	}
	return rule
}

// fileMode parses create's octal mode ("0644"); ok is false for "" and
// for anything that is not a file mode.
func fileMode(s string) (os.FileMode, bool) {
	if s == "" {
		return 0, false
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, false
	}
	return os.FileMode(m), true
}

// Policy is the images policy the images task runs.
func (im *Images) Policy() images.Policy {
	pol := images.Policy{
		Match: im.Match, Labels: im.Labels, KeepLatest: im.KeepLatest, UnusedFor: im.UnusedFor.D(),
		ProtectTags: im.ProtectTags, ProtectLabels: im.ProtectLabels, Dangling: im.Dangling,
		KeepLatestBy: images.KeepLatestBy(im.KeepLatestBy),
	}
	if im.BuildCacheKeep != nil {
		keep := im.BuildCacheKeep.Bytes()
		pol.BuildCacheKeep = &keep
	}
	if im.DiskHigh != nil {
		pol.DiskHigh = float64(*im.DiskHigh)
	}
	if im.DiskLow != nil {
		pol.DiskLow = float64(*im.DiskLow)
	}
	return pol
}

// has reports whether a problem was already recorded for field or a
// field below it (the config's own, more specific message wins).
func (c *checker) has(field string) bool {
	for _, e := range c.errs {
		if e.field == field || strings.HasPrefix(e.field, field+".") || strings.HasPrefix(e.field, field+"[") {
			return true
		}
	}
	return false
}

// lib records what a package's Validate found, each at prefix plus the
// field it names (renamed by names where the config spells it otherwise);
// a problem with no field is placed at prefix.
func (c *checker) lib(prefix string, err error, names map[string]string) {
	fielderr.Each(err, func(fe *fielderr.Error) {
		field := prefix
		if fe.Field != "" {
			name, rest := fe.Field, ""
			if i := strings.IndexAny(name, ".["); i >= 0 {
				name, rest = name[:i], name[i:]
			}
			if n, ok := names[name]; ok {
				name = n
			}
			field = prefix + "." + name + rest
		}
		if fe.Field != "" && c.has(field) {
			return
		}
		c.errs = append(c.errs, fieldError{field: field, err: reason{fe}})
	})
}

// reason prints a package's field error without its field (the config
// error names the field in full); errors.As and errors.Is see through it
// to the *FieldError and its sentinel.
type reason struct{ fe *fielderr.Error }

func (r reason) Error() string { return r.fe.Reason }
func (r reason) Unwrap() error { return r.fe }

// sweepNames maps cleanup.Rule's field names to the config's.
var sweepNames = map[string]string{"root": "path"}

func (s *Sweep) validateRules(c *checker) {
	for i, r := range s.Rules {
		if r.leftOut != nil || strings.TrimSpace(string(r.Path)) == "" {
			continue // left out here, or validate already named the missing path
		}
		c.lib(fmt.Sprintf("sweep.rules[%d]", i), r.CleanupRule().Validate(), sweepNames)
	}
}

func (r *Rotate) validateFiles(c *checker) {
	for i, f := range r.Files {
		c.lib(fmt.Sprintf("rotate.files[%d]", i), f.RotateRule().Validate(), nil)
	}
}

func (im *Images) validatePolicy(c *checker) {
	c.lib("images", im.Policy().Validate(), nil)
}

// validateChecks has each configured health check validate itself.
func (h *Health) validateChecks(c *checker) {
	hc := h.Checks
	for i, x := range hc.HTTP {
		c.lib(fmt.Sprintf("health.checks.http[%d]", i), x.Check().Validate(), nil)
	}
	for i, x := range hc.SSH {
		c.lib(fmt.Sprintf("health.checks.ssh[%d]", i), x.Check().Validate(), nil)
	}
	for i, x := range hc.TCP {
		c.lib(fmt.Sprintf("health.checks.tcp[%d]", i), x.Check().Validate(), nil)
	}
	for i, x := range hc.Disk {
		c.lib(fmt.Sprintf("health.checks.disk[%d]", i), x.Check().Validate(), nil)
	}
	for i, x := range hc.Command {
		c.lib(fmt.Sprintf("health.checks.command[%d]", i), x.Check().Validate(), nil)
	}
	if g := hc.GPU; g != nil {
		c.lib("health.checks.gpu", g.Options().Validate(), nil)
	}
	if m := hc.Memory; m != nil {
		c.lib("health.checks.memory", m.Check().Validate(), nil)
	}
	if d := hc.DeletedOpen; d != nil {
		c.lib("health.checks.deleted_open", d.Check().Validate(), nil)
	}
}

// Options are the GPU check's options.
func (g *GPUCheck) Options() health.GPUOptions {
	return health.GPUOptions{
		MinCount: g.MinCount, MaxTempC: g.MaxTempC, RequirePersistence: g.RequirePersistence,
		XID: health.XIDPolicy{Ignore: g.XIDIgnore, Fatal: g.XIDFatal},
	}
}

// Check is the torch check; RequireCUDA is true when require_cuda is left
// out (docs/DESIGN.md's default: a torch check proves CUDA).
func (t *TorchCheck) Check() *health.Torch {
	require := true
	if t.RequireCUDA != nil {
		require = *t.RequireCUDA
	}
	return &health.Torch{Python: t.Python, RequireCUDA: require, Devices: t.Devices}
}

// Check is the HTTP check with the token written in the config; token_env
// is read by the adapter that runs it.
func (x HTTPCheck) Check() *health.HTTP {
	return &health.HTTP{Label: x.Name, URL: x.URL, Token: x.Token, Expect: x.Expect}
}

// Check is the SSH banner check.
func (x SSHCheck) Check() *health.SSH { return &health.SSH{Label: x.Name, Addr: x.Addr} }

// Check is the open-port check.
func (x TCPCheck) Check() *health.TCP { return &health.TCP{Label: x.Name, Addr: x.Addr} }

// Check is the free-space check.
func (x DiskCheck) Check() *health.Disk {
	d := &health.Disk{Path: string(x.Path), MinFreeInodes: x.MinFreeInodes}
	if x.MinFree != nil {
		d.MinFree = x.MinFree.Bytes()
	}
	return d
}

// Check is the command check.
func (x CommandCheck) Check() *health.Command {
	return &health.Command{Label: x.Name, Argv: x.Command}
}

// Check is the cgroup memory check.
func (m *MemoryCheck) Check() *health.Memory {
	c := &health.Memory{Root: string(m.CgroupRoot), FailOnOOMKill: m.FailOnOOMKill}
	if m.WarnUsage != nil {
		c.WarnUsage = units.Percent(*m.WarnUsage)
	}
	if m.FailUsage != nil {
		c.FailUsage = units.Percent(*m.FailUsage)
	}
	return c
}

// Check is the deleted-but-open files check.
func (d *DeletedOpenCheck) Check() *health.DeletedOpen {
	c := &health.DeletedOpen{Proc: string(d.ProcRoot)}
	if d.Warn != nil {
		c.WarnBytes = d.Warn.Bytes()
	}
	if d.Fail != nil {
		c.FailBytes = d.Fail.Bytes()
	}
	return c
}
