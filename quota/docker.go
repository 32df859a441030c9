package quota

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tendkit/tend/units"
)

// DockerArgs renders q as the arguments of `docker run` (without the
// leading "docker"): "run", "--detach", "--name", q.Name, the limits, the
// log driver with its caps (json-file, max-size 10m, max-file 5 unless the
// spec says otherwise), the ports, volumes, secrets (read-only bind mounts
// at /run/secrets/NAME) and environment (sorted), and the image last. GPUs
// are always a device list, passed as one argument `"device=0,2"` with the
// double quotes docker's CSV parser needs for a comma; a count that was not
// resolved by Allocate is an error, never `--gpus N`. `gpus: all` stays
// `--gpus all` only where Allocate left it (a host described by hand
// without GPUs).
func DockerArgs(q QuotaSpec) ([]string, error) {
	if q.GPUs.Count > 0 {
		return nil, fmt.Errorf("docker args for %s: GPU count not resolved to device ids (run Allocate)", q.Name)
	}
	if q.Port == PortAuto || q.Cpuset == CpusetAuto {
		return nil, fmt.Errorf("docker args for %s: port or cpuset auto not resolved (run Allocate)", q.Name)
	}
	if q.Image == "" {
		return nil, errors.New("docker args for " + q.Name + ": no image")
	}
	a := []string{"run", "--detach", "--name", q.Name}
	opt := func(flag, v string) {
		if v != "" {
			a = append(a, flag, v)
		}
	}
	opt("--user", q.User)
	opt("--memory", dockerSize(q.Memory))
	opt("--memory-reservation", dockerSize(q.MemoryReservation))
	opt("--memory-swap", dockerSize(q.MemorySwap))
	if q.CPUs > 0 {
		opt("--cpus", q.CPUs.String())
	}
	opt("--cpuset-cpus", q.Cpuset)
	if q.GPUs.All {
		opt("--gpus", "all")
	} else if len(q.GPUs.IDs) > 0 {
		opt("--gpus", GPUDeviceArg(q.GPUs.IDs))
	}
	opt("--shm-size", dockerSize(q.ShmSize))
	opt("--ipc", q.IPC)
	if q.PidsLimit != 0 {
		opt("--pids-limit", strconv.FormatInt(q.PidsLimit, 10))
	}
	for _, u := range q.Ulimits {
		opt("--ulimit", ulimitDockerString(u))
	}
	lg := q.Logging.Effective()
	opt("--log-driver", string(lg.Driver))
	for _, k := range slices.Sorted(maps.Keys(lg.options())) {
		opt("--log-opt", k+"="+lg.options()[k])
	}
	for _, p := range q.allPorts() {
		opt("--publish", p.String())
	}
	for _, v := range q.allVolumes() {
		opt("--volume", v.String())
	}
	for _, sec := range q.Secrets {
		if sec.File == "" {
			return nil, fmt.Errorf("docker args for %s: secret %s has no file", q.Name, sec.Name)
		}
		opt("--mount", "type=bind,source="+sec.File+",target="+SecretsDir+"/"+sec.Name+",readonly")
	}
	for _, k := range slices.Sorted(maps.Keys(q.Env)) {
		opt("--env", k+"="+q.Env[k])
	}
	return append(a, q.Image), nil
}

// GPUDeviceArg returns the value of docker's --gpus for a device list:
// `"device=0,2"`, double quotes included, because docker splits the value
// as CSV and `device=0,2` alone means device 0 and an unknown option "2".
func GPUDeviceArg(ids []string) string {
	return `"device=` + strings.Join(ids, ",") + `"`
}

func ulimitDockerString(u Ulimit) string {
	if u.Soft == u.Hard {
		return fmt.Sprintf("%s=%d", u.Name, u.Soft)
	}
	return fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard)
}

// dockerSize prints a size as docker reads it: "48g", "512m", "-1", or
// bytes; "" for zero.
func dockerSize(s units.Size) string {
	switch {
	case s == 0:
		return ""
	case s < 0:
		return "-1"
	case s%units.GiB == 0:
		return fmt.Sprintf("%dg", s/units.GiB)
	case s%units.MiB == 0:
		return fmt.Sprintf("%dm", s/units.MiB)
	case s%units.KiB == 0:
		return fmt.Sprintf("%dk", s/units.KiB)
	}
	return strconv.FormatInt(int64(s), 10)
}

// ShellLine prints a command as one line for a POSIX shell: words made only
// of safe characters stay bare, others are single-quoted (so the GPU list
// reads `--gpus '"device=0,2"'`).
func ShellLine(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./_-", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
