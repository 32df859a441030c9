package main

import (
	"fmt"
	"os"
	"time"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/health"
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
		add(newGPU(g.Options()), g.CheckCommon)
	}
	if t := hc.Torch; t != nil {
		add(t.Check(), t.CheckCommon)
	}
	for _, x := range hc.HTTP {
		c := x.Check()
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
		add(x.Check(), x.CheckCommon)
	}
	for _, x := range hc.TCP {
		add(x.Check(), x.CheckCommon)
	}
	for _, x := range hc.Disk {
		add(x.Check(), x.CheckCommon)
	}
	if m := hc.Memory; m != nil {
		add(m.Check(), m.CheckCommon)
	}
	if d := hc.DeletedOpen; d != nil {
		add(d.Check(), d.CheckCommon)
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
		add(x.Check(), x.CheckCommon)
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
