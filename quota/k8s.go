package quota

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/units"
)

type k8sPod struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   k8sMeta    `yaml:"metadata"`
	Spec       k8sPodSpec `yaml:"spec"`
}

type k8sMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

type k8sPodSpec struct {
	Containers []k8sContainer `yaml:"containers"`
	Volumes    []k8sVolume    `yaml:"volumes,omitempty"`
}

type k8sContainer struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image"`
	Resources       k8sResources     `yaml:"resources"`
	SecurityContext *k8sSecurity     `yaml:"securityContext,omitempty"`
	Ports           []k8sPort        `yaml:"ports,omitempty"`
	Env             []k8sEnv         `yaml:"env,omitempty"`
	VolumeMounts    []k8sVolumeMount `yaml:"volumeMounts,omitempty"`
}

type k8sResources struct {
	Limits   map[string]string `yaml:"limits,omitempty"`
	Requests map[string]string `yaml:"requests,omitempty"`
}

type k8sSecurity struct {
	RunAsUser  *int64 `yaml:"runAsUser,omitempty"`
	RunAsGroup *int64 `yaml:"runAsGroup,omitempty"`
}

type k8sPort struct {
	ContainerPort int    `yaml:"containerPort"`
	HostPort      int    `yaml:"hostPort,omitempty"`
	HostIP        string `yaml:"hostIP,omitempty"`
	Protocol      string `yaml:"protocol,omitempty"`
}

type k8sEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type k8sVolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type k8sVolume struct {
	Name      string        `yaml:"name"`
	EmptyDir  *k8sEmptyDir  `yaml:"emptyDir,omitempty"`
	HostPath  *k8sHostPath  `yaml:"hostPath,omitempty"`
	Projected *k8sProjected `yaml:"projected,omitempty"`
}

type k8sProjected struct {
	Sources []k8sProjection `yaml:"sources"`
}

type k8sProjection struct {
	Secret k8sSecretProjection `yaml:"secret"`
}

type k8sSecretProjection struct {
	Name  string         `yaml:"name"`
	Items []k8sKeyToPath `yaml:"items"`
}

type k8sKeyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type k8sEmptyDir struct {
	Medium    string `yaml:"medium"`
	SizeLimit string `yaml:"sizeLimit,omitempty"`
}

type k8sHostPath struct {
	Path string `yaml:"path"`
	Type string `yaml:"type"`
}

// Kubernetes renders each user as a Pod (YAML documents separated by
// "---") whose container carries the resources: limits.cpu in whole CPUs
// or millicores ("8", "500m", rounded up to a millicore), limits.memory in
// binary units ("48Gi", "512Mi"; note that in Kubernetes "6G" is decimal,
// 6*10^9 bytes, and "6g" is invalid, while in a spec file 6g, 6G and 6Gi
// are all 6 GiB), and nvidia.com/gpu in limits only, as the device plugin
// requires. Requests are the memory reservation (or the limit) and the
// CPUs. /dev/shm is an emptyDir with medium Memory and sizeLimit shm_size;
// the workspace and volumes are hostPath volumes. What Kubernetes cannot
// express is dropped and listed in a comment at the top of each document:
// which GPUs (the device plugin picks them; only the count is kept), swap,
// cpuset, pids_limit, ulimits and ipc. Container logs are capped by the
// kubelet (containerLogMaxSize, containerLogMaxFiles), not per Pod, which
// the comment says too. Secrets are a projected volume at /run/secrets
// from Secret objects named after the secrets ('_' becomes '-'), each
// holding one key with the secret's name; the comment gives the kubectl
// command that creates each from its file. Names are used as they are:
// Validate checks that they are valid Kubernetes names.
func Kubernetes(users []QuotaSpec) ([]byte, error) {
	var b bytes.Buffer
	for i, q := range users {
		if !q.GPUs.Resolved() || q.Port == PortAuto || q.Cpuset == CpusetAuto {
			return nil, fmt.Errorf("kubernetes pod %s: GPUs, port or cpuset not allocated (run Allocate; a Pod cannot ask for all GPUs of a node)", q.Name)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		for _, n := range k8sDropped(q) {
			b.WriteString("# " + n + "\n")
		}
		out, err := yaml.Dump(k8sPodOf(q), yaml.WithIndent(2))
		if err != nil {
			return nil, fmt.Errorf("kubernetes pod %s: %w", q.Name, err)
		}
		b.Write(out)
	}
	return b.Bytes(), nil
}

func k8sPodOf(q QuotaSpec) k8sPod {
	c := k8sContainer{Name: q.Name, Image: q.Image}
	lim, req := map[string]string{}, map[string]string{}
	if q.CPUs > 0 {
		lim["cpu"] = K8sCPU(q.CPUs)
		req["cpu"] = K8sCPU(q.CPUs)
	}
	if q.Memory > 0 {
		lim["memory"] = K8sQuantity(q.Memory)
		req["memory"] = K8sQuantity(q.Memory)
	}
	if q.MemoryReservation > 0 {
		req["memory"] = K8sQuantity(q.MemoryReservation)
	}
	if n := len(q.GPUs.IDs); n > 0 {
		lim["nvidia.com/gpu"] = strconv.Itoa(n)
	}
	if len(lim) > 0 {
		c.Resources.Limits = lim
	}
	if len(req) > 0 {
		c.Resources.Requests = req
	}
	if uid, gid, ok := numericUser(q.User); ok {
		c.SecurityContext = &k8sSecurity{RunAsUser: uid, RunAsGroup: gid}
	}
	for _, p := range q.allPorts() {
		proto := ""
		if p.Protocol == "udp" {
			proto = "UDP"
		}
		c.Ports = append(c.Ports, k8sPort{ContainerPort: p.Container, HostPort: p.Host, HostIP: p.IP, Protocol: proto})
	}
	for _, k := range slices.Sorted(maps.Keys(q.Env)) {
		c.Env = append(c.Env, k8sEnv{Name: k, Value: q.Env[k]})
	}
	pod := k8sPod{APIVersion: "v1", Kind: "Pod", Metadata: k8sMeta{Name: q.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "tend"}}}
	if q.IPC != "host" {
		shm := q.ShmSize
		if shm == 0 {
			shm = DockerShmDefault
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, k8sVolume{Name: "dshm", EmptyDir: &k8sEmptyDir{Medium: "Memory", SizeLimit: K8sQuantity(shm)}})
		c.VolumeMounts = append(c.VolumeMounts, k8sVolumeMount{Name: "dshm", MountPath: "/dev/shm"})
	}
	for i, v := range q.allVolumes() {
		name := fmt.Sprintf("vol%d", i)
		if v.Target == WorkspaceDir {
			name = "workspace"
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, k8sVolume{Name: name, HostPath: &k8sHostPath{Path: v.Source, Type: "Directory"}})
		c.VolumeMounts = append(c.VolumeMounts, k8sVolumeMount{Name: name, MountPath: v.Target, ReadOnly: v.ReadOnly})
	}
	if len(q.Secrets) > 0 {
		proj := &k8sProjected{}
		for _, sec := range q.Secrets {
			proj.Sources = append(proj.Sources, k8sProjection{Secret: k8sSecretProjection{
				Name: k8sSecretName(sec.Name), Items: []k8sKeyToPath{{Key: sec.Name, Path: sec.Name}}}})
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, k8sVolume{Name: "secrets", Projected: proj})
		c.VolumeMounts = append(c.VolumeMounts, k8sVolumeMount{Name: "secrets", MountPath: SecretsDir, ReadOnly: true})
	}
	pod.Spec.Containers = []k8sContainer{c}
	return pod
}

// k8sDropped lists what the pod cannot carry.
func k8sDropped(q QuotaSpec) []string {
	var n []string
	if lg := q.Logging.Effective(); lg.Capped() {
		n = append(n, "logs: capped by the kubelet (containerLogMaxSize, containerLogMaxFiles; 10Mi x 5 by default), not per Pod; the spec asks "+q.Logging.String())
	} else {
		n = append(n, "logs: the spec asks for no cap, but the kubelet rotates container logs anyway (containerLogMaxSize)")
	}
	for _, sec := range q.Secrets {
		n = append(n, fmt.Sprintf("secret %s: kubectl create secret generic %s --from-file=%s=%s", sec.Name, k8sSecretName(sec.Name), sec.Name, sec.File))
	}
	if len(q.GPUs.IDs) > 0 {
		n = append(n, fmt.Sprintf("GPUs %s: Kubernetes takes a count; the device plugin picks the devices", strings.Join(q.GPUs.IDs, ",")))
	}
	if q.MemorySwap != 0 {
		n = append(n, "memory_swap: not expressible in a Pod")
	}
	if q.Cpuset != "" {
		n = append(n, "cpuset "+q.Cpuset+": use the kubelet's static CPU manager policy")
	}
	if q.PidsLimit > 0 {
		n = append(n, "pids_limit: set by the kubelet (podPidsLimit), not per Pod")
	}
	if len(q.Ulimits) > 0 {
		n = append(n, "ulimits: set by the container runtime, not per Pod")
	}
	if q.IPC == "host" {
		n = append(n, "ipc host: use hostIPC: true only if you must; /dev/shm is the node's")
	}
	if q.User != "" {
		if _, _, ok := numericUser(q.User); !ok {
			n = append(n, "user "+q.User+": Kubernetes needs a numeric runAsUser")
		}
	}
	return n
}

func numericUser(u string) (uid, gid *int64, ok bool) {
	a, b, hasGroup := strings.Cut(u, ":")
	x, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return nil, nil, false
	}
	uid = &x
	if hasGroup {
		y, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			return nil, nil, false
		}
		gid = &y
	}
	return uid, gid, true
}

// K8sQuantity prints a size as a Kubernetes quantity in binary units:
// "6Gi", "512Mi", "64Ki", or bytes. (Kubernetes reads "6G" as 6*10^9.)
func K8sQuantity(s units.Size) string {
	for _, u := range []struct {
		n    units.Size
		name string
	}{{units.TiB, "Ti"}, {units.GiB, "Gi"}, {units.MiB, "Mi"}, {units.KiB, "Ki"}} {
		if s%u.n == 0 && s != 0 {
			return fmt.Sprintf("%d%s", s/u.n, u.name)
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// K8sCPU prints CPUs as a Kubernetes quantity: "8", or millicores "500m"
// (rounded up).
func K8sCPU(n NanoCPUs) string {
	if n%1e9 == 0 {
		return strconv.FormatInt(int64(n)/1e9, 10)
	}
	return strconv.FormatInt(n.Millis(), 10) + "m"
}
