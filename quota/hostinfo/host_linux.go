package hostinfo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tendkit/tend/units"
)

func readHost(ctx context.Context, opts HostOptions) (Host, error) {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	var h Host
	mem, err := readMemTotal(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return h, fmt.Errorf("read host memory: %w", err)
	}
	h.Memory = mem
	if lim, err := ReadLimits(root); err == nil && lim.Memory > 0 && lim.Memory < h.Memory {
		h.Memory = lim.Memory
	}
	online, err := os.ReadFile(filepath.Join(root, "sys/devices/system/cpu/online"))
	if err != nil {
		return h, fmt.Errorf("read host CPUs: %w", err)
	}
	if h.CPUs, err = ParseCPUList(strings.TrimSpace(string(online))); err != nil {
		return h, fmt.Errorf("read host CPUs: %w", err)
	}
	if h.GPUs, err = readProcGPUs(filepath.Join(root, "proc/driver/nvidia/gpus")); err != nil {
		return h, fmt.Errorf("read host GPUs: %w", err)
	}
	smi := opts.NvidiaSMI
	if smi == "" && root == "/" {
		smi, _ = exec.LookPath("nvidia-smi")
	}
	if len(h.GPUs) == 0 && smi != "" && smi != "-" {
		out, err := exec.CommandContext(ctx, smi, "-L").Output()
		if err != nil {
			return h, fmt.Errorf("read host GPUs: %s -L: %w", smi, err)
		}
		h.GPUs = ParseNvidiaSMIList(out)
	}
	return h, nil
}

func readMemTotal(path string) (units.Size, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 {
				return 0, fmt.Errorf("%s: bad MemTotal %q", path, f[1])
			}
			return units.Size(kb) * units.KiB, nil
		}
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}

// readProcGPUs reads the driver's per-GPU information files. The folder
// names are PCI bus ids, whose order is NVML's (and docker's) index order.
func readProcGPUs(dir string) ([]GPU, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var gpus []GPU
	for i, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n, "information"))
		if err != nil {
			return nil, err
		}
		g := GPU{ID: strconv.Itoa(i)}
		for line := range strings.SplitSeq(string(data), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "Model":
				g.Name = strings.TrimSpace(v)
			case "GPU UUID":
				g.UUID = strings.TrimSpace(v)
			}
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}
