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
// command.
func buildChecks(h *config.Health, env func(string) (string, bool)) ([]health.Check, error) {
	var checks []health.Check
	add := func(c health.Check, timeout config.Duration, profiles []string) {
		ps := make([]health.Profile, len(profiles))
		for i, p := range profiles {
			ps[i] = health.Profile(p)
		}
		checks = append(checks, health.Configured{Inner: c, Timeout: timeout.D(), Profiles: ps})
	}
	hc := h.Checks
	if g := hc.GPU; g != nil {
		add(health.NewGPU(health.GPUOptions{MinCount: g.MinCount, MaxTempC: g.MaxTempC, RequirePersistence: g.RequirePersistence}), g.Timeout, g.Profiles)
	}
	if t := hc.Torch; t != nil {
		require := true // docs/DESIGN.md's default: a torch check proves CUDA
		if t.RequireCUDA != nil {
			require = *t.RequireCUDA
		}
		add(&health.Torch{Python: t.Python, RequireCUDA: require}, t.Timeout, t.Profiles)
	}
	for i, x := range hc.HTTP {
		token := x.Token
		if x.TokenEnv != "" {
			v, ok := env(x.TokenEnv)
			if !ok {
				return nil, fmt.Errorf("health.checks.http[%d].token_env: environment variable %s is not set", i, x.TokenEnv)
			}
			token = v
		}
		add(&health.HTTP{Label: x.Name, URL: x.URL, Token: token, Expect: x.Expect}, x.Timeout, x.Profiles)
	}
	for _, x := range hc.SSH {
		add(&health.SSH{Label: x.Name, Addr: x.Addr}, x.Timeout, x.Profiles)
	}
	for _, x := range hc.TCP {
		add(&health.TCP{Label: x.Name, Addr: x.Addr}, x.Timeout, x.Profiles)
	}
	for _, x := range hc.Disk {
		d := &health.Disk{Path: string(x.Path), MinFreeInodes: x.MinFreeInodes}
		if x.MinFree != nil {
			d.MinFree = x.MinFree.Bytes()
		}
		add(d, x.Timeout, x.Profiles)
	}
	if m := hc.Memory; m != nil {
		c := &health.Memory{Root: string(m.CgroupRoot), FailOnOOMKill: m.FailOnOOMKill}
		if m.WarnUsage != nil {
			c.WarnUsage = units.Percent(*m.WarnUsage)
		}
		if m.FailUsage != nil {
			c.FailUsage = units.Percent(*m.FailUsage)
		}
		add(c, m.Timeout, m.Profiles)
	}
	if d := hc.DeletedOpen; d != nil {
		c := &health.DeletedOpen{Proc: string(d.ProcRoot)}
		if d.Warn != nil {
			c.WarnBytes = d.Warn.Bytes()
		}
		if d.Fail != nil {
			c.FailBytes = d.Fail.Bytes()
		}
		add(c, d.Timeout, d.Profiles)
	}
	for _, x := range hc.Command {
		add(&health.Command{Label: x.Name, Argv: x.Command}, x.Timeout, x.Profiles)
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
	if profile == health.Startup && h.Startup != nil && h.Startup.Deadline > 0 {
		total = h.Startup.Deadline.D()
	}
	if flagSet {
		total = flagTimeout
		attempt = min(attempt, total)
	}
	return total, attempt
}

func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }
