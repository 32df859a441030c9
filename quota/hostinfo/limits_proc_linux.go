package hostinfo

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// procLimitNames maps /proc/self/limits rows to docker's ulimit names.
var procLimitNames = map[string]string{
	"Max cpu time": "cpu", "Max file size": "fsize", "Max data size": "data",
	"Max stack size": "stack", "Max core file size": "core", "Max resident set": "rss",
	"Max processes": "nproc", "Max open files": "nofile", "Max locked memory": "memlock",
	"Max file locks": "locks", "Max pending signals": "sigpending",
	"Max msgqueue size": "msgqueue", "Max nice priority": "nice",
	"Max realtime priority": "rtprio", "Max realtime timeout": "rttime",
}

var procLimitRow = regexp.MustCompile(`^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)`)

// ulimits reads proc/self/limits; "unlimited" becomes -1.
func (r *limitsReader) ulimits() {
	text, ok := r.read(filepath.Join(r.root, "proc/self/limits"))
	if !ok {
		return
	}
	val := func(s string) (int64, bool) {
		if s == "unlimited" {
			return -1, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	for line := range strings.SplitSeq(text, "\n") {
		m := procLimitRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, known := procLimitNames[m[1]]
		soft, ok1 := val(m[2])
		hard, ok2 := val(m[3])
		if known && ok1 && ok2 {
			r.l.Ulimits = append(r.l.Ulimits, Ulimit{Name: name, Soft: soft, Hard: hard})
		}
	}
}

var nvidiaNode = regexp.MustCompile(`^nvidia([0-9]+)$`)

// gpus lists the GPUs CUDA would see (see Limits.GPUs).
func (r *limitsReader) gpus() {
	var devs []string
	if ents, err := os.ReadDir(filepath.Join(r.root, "dev")); err == nil {
		var minors []int
		for _, e := range ents {
			if m := nvidiaNode.FindStringSubmatch(e.Name()); m != nil {
				n, _ := strconv.Atoi(m[1])
				minors = append(minors, n)
			}
		}
		slices.Sort(minors)
		for _, n := range minors {
			devs = append(devs, strconv.Itoa(n))
		}
	}
	env := r.environ()
	if v, ok := env["NVIDIA_VISIBLE_DEVICES"]; ok && (v == "void" || v == "none" || v == "") {
		devs = nil
	}
	if v, ok := env["CUDA_VISIBLE_DEVICES"]; ok {
		devs = cudaVisible(devs, v)
	}
	r.l.GPUs = devs
}

// cudaVisible applies CUDA_VISIBLE_DEVICES to the device list: indices
// pick devices, UUIDs are kept, and CUDA stops at the first invalid entry.
func cudaVisible(devs []string, v string) []string {
	var out []string
	for e := range strings.SplitSeq(v, ",") {
		e = strings.TrimSpace(e)
		if strings.HasPrefix(e, "GPU-") || strings.HasPrefix(e, "MIG-") {
			out = append(out, e)
			continue
		}
		i, err := strconv.Atoi(e)
		if err != nil || i < 0 || i >= len(devs) {
			break
		}
		out = append(out, devs[i])
	}
	return out
}

// environ reads proc/self/environ (NUL-separated; newline-separated in
// hand-written fixtures).
func (r *limitsReader) environ() map[string]string {
	data, err := os.ReadFile(filepath.Join(r.root, "proc/self/environ"))
	if err != nil {
		return nil
	}
	sep := "\x00"
	if !strings.Contains(string(data), sep) {
		sep = "\n"
	}
	env := map[string]string{}
	for kv := range strings.SplitSeq(string(data), sep) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}
