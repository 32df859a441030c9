package config

import (
	"fmt"
	"time"
)

// Health configures tend-health (package health).
type Health struct {
	Timeout Duration     `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Checks  HealthChecks `yaml:"checks,omitempty" json:"checks,omitempty"`
	// Startup is how the startup profile retries.
	Startup *HealthStartup `yaml:"startup,omitempty" json:"startup,omitempty"`
	// Serve configures the resident mode (tend-health --serve).
	Serve *HealthServe `yaml:"serve,omitempty" json:"serve,omitempty"`
}

// HealthServe configures tend-health --serve: how often each profile's
// checks run, and the age past which a report no longer counts (0 = twice
// the interval plus health.timeout).
type HealthServe struct {
	LivenessInterval  Duration `yaml:"liveness_interval,omitempty" json:"liveness_interval,omitempty"`
	ReadinessInterval Duration `yaml:"readiness_interval,omitempty" json:"readiness_interval,omitempty"`
	// StartupInterval defaults to health.startup.interval.
	StartupInterval Duration `yaml:"startup_interval,omitempty" json:"startup_interval,omitempty"`
	MaxAge          Duration `yaml:"max_age,omitempty" json:"max_age,omitempty"`
}

// HealthStartup configures the startup profile: the readiness checks run
// every Interval until they pass or Deadline has passed.
type HealthStartup struct {
	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Deadline Duration `yaml:"deadline,omitempty" json:"deadline,omitempty"`
}

// CheckCommon holds what every check may set: its own timeout, the
// profiles (liveness, readiness, startup) it runs in, and whether it is
// optional: a check that cannot run (no NVML in this build, no python, no
// cgroup) fails naming why, unless optional, when it is skipped.
type CheckCommon struct {
	Timeout  Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Profiles []string `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	Optional bool     `yaml:"optional,omitempty" json:"optional,omitempty"`
}

// HealthChecks lists the configured checks by kind.
type HealthChecks struct {
	GPU   *GPUCheck   `yaml:"gpu,omitempty" json:"gpu,omitempty"`
	Torch *TorchCheck `yaml:"torch,omitempty" json:"torch,omitempty"`
	HTTP  []HTTPCheck `yaml:"http,omitempty" json:"http,omitempty"`
	SSH   []SSHCheck  `yaml:"ssh,omitempty" json:"ssh,omitempty"`
	Disk  []DiskCheck `yaml:"disk,omitempty" json:"disk,omitempty"`

	TCP         []TCPCheck        `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	Memory      *MemoryCheck      `yaml:"memory,omitempty" json:"memory,omitempty"`
	DeletedOpen *DeletedOpenCheck `yaml:"deleted_open,omitempty" json:"deleted_open,omitempty"`
	Command     []CommandCheck    `yaml:"command,omitempty" json:"command,omitempty"`
	Limits      *LimitsCheck      `yaml:"limits,omitempty" json:"limits,omitempty"`
}

// LimitsCheck configures the check of the container's own limits (read
// with quota.ReadLimits): no memory limit, or a /dev/shm smaller than
// MinShm, warns or (Severity: fail) fails.
type LimitsCheck struct {
	// RequireMemoryLimit flags a container with no memory limit
	// (default true).
	RequireMemoryLimit *bool `yaml:"require_memory_limit,omitempty" json:"require_memory_limit,omitempty"`
	// MinShm is the least /dev/shm size (default 1GiB; 0 = no minimum).
	MinShm *Size `yaml:"min_shm,omitempty" json:"min_shm,omitempty"`
	// Severity is warn (default) or fail.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	// Root is where /proc and /sys are read from (default /; tests point
	// it at fixtures).
	Root        Path `yaml:"root,omitempty" json:"root,omitempty"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// TCPCheck configures one open-port check.
type TCPCheck struct {
	Name        string `yaml:"name,omitempty" json:"name,omitempty"`
	Addr        string `yaml:"addr" json:"addr"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// MemoryCheck configures the cgroup memory check.
type MemoryCheck struct {
	CgroupRoot    Path     `yaml:"cgroup_root,omitempty" json:"cgroup_root,omitempty"`
	WarnUsage     *Percent `yaml:"warn_usage,omitempty" json:"warn_usage,omitempty"`
	FailUsage     *Percent `yaml:"fail_usage,omitempty" json:"fail_usage,omitempty"`
	FailOnOOMKill bool     `yaml:"fail_on_oom_kill,omitempty" json:"fail_on_oom_kill,omitempty"`
	CheckCommon   `yaml:",inline" json:",inline"`
}

// DeletedOpenCheck configures the deleted-but-open files check.
type DeletedOpenCheck struct {
	ProcRoot    Path  `yaml:"proc_root,omitempty" json:"proc_root,omitempty"`
	Warn        *Size `yaml:"warn,omitempty" json:"warn,omitempty"`
	Fail        *Size `yaml:"fail,omitempty" json:"fail,omitempty"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// CommandCheck configures one command whose exit status is the verdict.
type CommandCheck struct {
	Name        string   `yaml:"name,omitempty" json:"name,omitempty"`
	Command     []string `yaml:"command" json:"command"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// GPUCheck configures the NVML check.
type GPUCheck struct {
	MinCount           int  `yaml:"min_count,omitempty" json:"min_count,omitempty"`
	MaxTempC           int  `yaml:"max_temp_c,omitempty" json:"max_temp_c,omitempty"`
	RequirePersistence bool `yaml:"require_persistence,omitempty" json:"require_persistence,omitempty"`
	// XIDIgnore lists XIDs that are counted but neither warn nor fail
	// (absent = the device plugin's 13, 31, 43, 45, 68, 109; [] = none).
	XIDIgnore []uint64 `yaml:"xid_ignore,omitempty" json:"xid_ignore,omitempty"`
	// XIDFatal lists XIDs that fail the check (absent = DCGM's 48, 74,
	// 79, 95, 119, 120, 140; [] = none). Other XIDs warn.
	XIDFatal    []uint64 `yaml:"xid_fatal,omitempty" json:"xid_fatal,omitempty"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// TorchCheck configures the PyTorch compute check.
type TorchCheck struct {
	Python      string `yaml:"python,omitempty" json:"python,omitempty"`
	RequireCUDA *bool  `yaml:"require_cuda,omitempty" json:"require_cuda,omitempty"`
	// Devices lists the CUDA device indices to prove (absent = every
	// visible device).
	Devices     []int `yaml:"devices,omitempty" json:"devices,omitempty"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// HTTPCheck configures one HTTP endpoint check.
type HTTPCheck struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	URL  string `yaml:"url" json:"url"`
	// Token is sent as "Authorization: token TOKEN" (Jupyter).
	Token string `yaml:"token,omitempty" json:"-"`
	// TokenEnv names an environment variable holding the token
	// (e.g. JUPYTER_TOKEN), read when the check is built.
	TokenEnv string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	// Expect lists the statuses that pass (default: any 2xx).
	Expect      []int `yaml:"expect,omitempty" json:"expect,omitempty"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// SSHCheck configures one SSH banner check.
type SSHCheck struct {
	Name        string `yaml:"name,omitempty" json:"name,omitempty"`
	Addr        string `yaml:"addr" json:"addr"`
	CheckCommon `yaml:",inline" json:",inline"`
}

// DiskCheck configures one free-space check.
type DiskCheck struct {
	Path    Path  `yaml:"path" json:"path"`
	MinFree *Size `yaml:"min_free,omitempty" json:"min_free,omitempty"`
	// MinFreeInodes is the least number of free inodes.
	MinFreeInodes int64 `yaml:"min_free_inodes,omitempty" json:"min_free_inodes,omitempty"`
	CheckCommon   `yaml:",inline" json:",inline"`
}

// validate checks the health section; a nil section has nothing to check.
func (h *Health) validate(c *checker) {
	if h == nil {
		return
	}
	hc := h.Checks
	for i, x := range hc.HTTP {
		f := fmt.Sprintf("health.checks.http[%d]", i)
		c.profiles(f+".profiles", x.Profiles)
	}
	for i, x := range hc.SSH {
		f := fmt.Sprintf("health.checks.ssh[%d]", i)
		c.profiles(f+".profiles", x.Profiles)
	}
	for i, x := range hc.TCP {
		f := fmt.Sprintf("health.checks.tcp[%d]", i)
		c.profiles(f+".profiles", x.Profiles)
	}
	for i, x := range hc.Disk {
		f := fmt.Sprintf("health.checks.disk[%d]", i)
		c.required(f+".path", string(x.Path))
		c.profiles(f+".profiles", x.Profiles)
	}
	for i, x := range hc.Command {
		f := fmt.Sprintf("health.checks.command[%d]", i)
		c.profiles(f+".profiles", x.Profiles)
	}
	if g := hc.GPU; g != nil {
		c.profiles("health.checks.gpu.profiles", g.Profiles)
	}
	if t := hc.Torch; t != nil {
		c.profiles("health.checks.torch.profiles", t.Profiles)
		for i, d := range t.Devices {
			c.nonNegative(fmt.Sprintf("health.checks.torch.devices[%d]", i), d)
		}
	}
	if l := hc.Limits; l != nil {
		c.oneOf("health.checks.limits.severity", l.Severity, "warn", "fail")
		c.profiles("health.checks.limits.profiles", l.Profiles)
	}
	h.validateDurations(c)
	if m := hc.Memory; m != nil {
		c.profiles("health.checks.memory.profiles", m.Profiles)
	}
	if d := hc.DeletedOpen; d != nil {
		c.profiles("health.checks.deleted_open.profiles", d.Profiles)
	}
	h.validateChecks(c)
}

// validateDurations checks that every duration of the section is positive
// where zero means "the default" and negative means nothing.
func (h *Health) validateDurations(c *checker) {
	pos := func(field string, d Duration) {
		if d < 0 {
			c.add(field, "%s is negative", time.Duration(d))
		}
	}
	pos("health.timeout", h.Timeout)
	if st := h.Startup; st != nil {
		pos("health.startup.interval", st.Interval)
		pos("health.startup.deadline", st.Deadline)
	}
	if sv := h.Serve; sv != nil {
		pos("health.serve.liveness_interval", sv.LivenessInterval)
		pos("health.serve.readiness_interval", sv.ReadinessInterval)
		pos("health.serve.startup_interval", sv.StartupInterval)
		pos("health.serve.max_age", sv.MaxAge)
	}
}

// healthProfiles are the profiles a check may be placed in.
var healthProfiles = []string{"liveness", "readiness", "startup"}

func (c *checker) profiles(field string, ps []string) {
	for i, p := range ps {
		c.oneOf(fmt.Sprintf("%s[%d]", field, i), p, healthProfiles...)
	}
}
