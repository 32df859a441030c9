package main

import (
	"fmt"
	"os"
	"time"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/units"
)

// buildChecks turns the health section into checks, in the order the report
// lists them: gpu, torch, http, ssh, tcp, disk, memory, deleted_open,
// limits, command.
func buildChecks(h *config.Health, env func(string) (string, bool)) ([]health.Check, error) {
	var checks []health.Check
	add := func(c health.Check, common config.CheckCommon) {
		ps := make([]health.Profile, len(common.Profiles))
		for i, p := range common.Profiles {
			ps[i] = health.Profile(p)
		}
		checks = append(checks, health.Configured{Inner: c, Timeout: common.Timeout.D(), Profiles: ps, Optional: common.Optional})
	}
	hc := h.Checks
	if g := hc.GPU; g != nil {
		add(newGPU(health.GPUOptions{
			MinCount: g.MinCount, MaxTempC: g.MaxTempC, RequirePersistence: g.RequirePersistence,
			XID: health.XIDPolicy{Ignore: g.XIDIgnore, Fatal: g.XIDFatal},
		}), g.CheckCommon)
	}
	if t := hc.Torch; t != nil {
		require := true // docs/DESIGN.md's default: a torch check proves CUDA
		if t.RequireCUDA != nil {
			require = *t.RequireCUDA
		}
		add(&health.Torch{Python: t.Python, RequireCUDA: require, Devices: t.Devices}, t.CheckCommon)
	}
	for _, x := range hc.HTTP {
		c := &health.HTTP{Label: x.Name, URL: x.URL, Token: x.Token, Expect: x.Expect}
		if x.TokenEnv != "" {
			v, ok := env(x.TokenEnv)
			if !ok {
				// Not a config error: the container was started without
				// the variable. The check fails (the others still run).
				add(&health.Unavailable{Label: c.Name(), Err: fmt.Errorf("environment variable %s is not set", x.TokenEnv),
					Hint: fmt.Sprintf("start the container with -e %s=... (the token the server expects)", x.TokenEnv)}, x.CheckCommon)
				continue
			}
			c.Token = v
		}
		add(c, x.CheckCommon)
	}
	for _, x := range hc.SSH {
		add(&health.SSH{Label: x.Name, Addr: x.Addr}, x.CheckCommon)
	}
	for _, x := range hc.TCP {
		add(&health.TCP{Label: x.Name, Addr: x.Addr}, x.CheckCommon)
	}
	for _, x := range hc.Disk {
		d := &health.Disk{Path: string(x.Path), MinFreeInodes: x.MinFreeInodes}
		if x.MinFree != nil {
			d.MinFree = x.MinFree.Bytes()
		}
		add(d, x.CheckCommon)
	}
	if m := hc.Memory; m != nil {
		c := &health.Memory{Root: string(m.CgroupRoot), FailOnOOMKill: m.FailOnOOMKill}
		if m.WarnUsage != nil {
			c.WarnUsage = units.Percent(*m.WarnUsage)
		}
		if m.FailUsage != nil {
			c.FailUsage = units.Percent(*m.FailUsage)
		}
		add(c, m.CheckCommon)
	}
	if d := hc.DeletedOpen; d != nil {
		c := &health.DeletedOpen{Proc: string(d.ProcRoot)}
		if d.Warn != nil {
			c.WarnBytes = d.Warn.Bytes()
		}
		if d.Fail != nil {
			c.FailBytes = d.Fail.Bytes()
		}
		add(c, d.CheckCommon)
	}
	if l := hc.Limits; l != nil {
		c := &limitsCheck{Root: string(l.Root), RequireMemoryLimit: true, MinShm: defaultMinShm, Fail: l.Severity == "fail"}
		if l.RequireMemoryLimit != nil {
			c.RequireMemoryLimit = *l.RequireMemoryLimit
		}
		if l.MinShm != nil {
			c.MinShm = l.MinShm.Bytes()
		}
		add(c, l.CheckCommon)
	}
	for _, x := range hc.Command {
		add(&health.Command{Label: x.Name, Argv: x.Command}, x.CheckCommon)
	}
	return checks, nil
}

// timeouts decides how long the whole run may take and how long one
// attempt may take: --timeout when given, else the startup deadline for the
// startup profile, else health.timeout, else 10s.
func timeouts(h *config.Health, profile health.Profile, flagTimeout time.Duration, flagSet bool) (total, attempt time.Duration) {
	attempt = h.Timeout.D()
	if attempt <= 0 {
		attempt = health.DefaultTimeout
	}
	total = attempt
	if profile == health.ProfileStartup && h.Startup != nil && h.Startup.Deadline > 0 {
		total = h.Startup.Deadline.D()
	}
	if flagSet {
		total = flagTimeout
		attempt = min(attempt, total)
	}
	return total, attempt
}

func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }
