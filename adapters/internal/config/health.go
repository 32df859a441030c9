package config

import "fmt"

// Health configures tend-health (package health).
type Health struct {
	Timeout Duration     `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Checks  HealthChecks `yaml:"checks,omitempty" json:"checks,omitempty"`
	// Startup is how the startup profile retries.
	Startup *HealthStartup `yaml:"startup,omitempty" json:"startup,omitempty"`
}

// HealthStartup configures the startup profile: the readiness checks run
// every Interval until they pass or Deadline has passed.
type HealthStartup struct {
	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Deadline Duration `yaml:"deadline,omitempty" json:"deadline,omitempty"`
}

// CheckCommon holds what every check may set: its own timeout and the
// profiles (liveness, readiness, startup) it runs in.
type CheckCommon struct {
	Timeout  Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Profiles []string `yaml:"profiles,omitempty" json:"profiles,omitempty"`
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
	MinCount           int      `yaml:"min_count,omitempty" json:"min_count,omitempty"`
	MaxTempC           int      `yaml:"max_temp_c,omitempty" json:"max_temp_c,omitempty"`
	RequirePersistence bool     `yaml:"require_persistence,omitempty" json:"require_persistence,omitempty"`
	Profiles           []string `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	// Timeout bounds the NVML calls.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// TorchCheck configures the PyTorch compute check.
type TorchCheck struct {
	Python      string   `yaml:"python,omitempty" json:"python,omitempty"`
	RequireCUDA *bool    `yaml:"require_cuda,omitempty" json:"require_cuda,omitempty"`
	Timeout     Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Profiles    []string `yaml:"profiles,omitempty" json:"profiles,omitempty"`
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
	}
	if m := hc.Memory; m != nil {
		c.profiles("health.checks.memory.profiles", m.Profiles)
	}
	if d := hc.DeletedOpen; d != nil {
		c.profiles("health.checks.deleted_open.profiles", d.Profiles)
	}
	h.validateChecks(c)
}

// healthProfiles are the profiles a check may be placed in.
var healthProfiles = []string{"liveness", "readiness", "startup"}

func (c *checker) profiles(field string, ps []string) {
	for i, p := range ps {
		c.oneOf(fmt.Sprintf("%s[%d]", field, i), p, healthProfiles...)
	}
}
