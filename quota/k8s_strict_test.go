package quota

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/tendkit/tend/units"
)

// strictPods decodes every document of a Kubernetes() output into
// k8s.io/api Pods, refusing unknown fields.
func strictPods(t *testing.T, out []byte) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	for doc := range strings.SplitSeq(string(out), "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		require.NoError(t, err, doc)
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		var pod corev1.Pod
		require.NoError(t, dec.Decode(&pod), "strict decode:\n%s", doc)
		pods = append(pods, pod)
	}
	return pods
}

// TestKubernetesStrictDecode renders the golden specs and one with every
// kind of volume, port and secret as Pods, decodes them strictly into
// k8s.io/api types, checks every name with apimachinery's validation and
// reads the resources back as quantities.
func TestKubernetesStrictDecode(t *testing.T) {
	names := append(goldenSpecs(t), "")
	for _, name := range names {
		var plan *Plan
		if name == "" {
			s, err := ParseSpec("k.yaml", []byte(`host: {memory: 64GiB, cpus: 8, gpus: ["0", "1"]}
secrets:
  jupyter_token: {file: /etc/tend/jupyter_token}
  ssh-key: {file: /etc/tend/id}
users:
  - name: k8s-user-1
    image: registry.example.com:5000/team/img@sha256:0123456789012345678901234567890123456789012345678901234567890123
    user: "1000:100"
    memory: 1536MiB
    memory_reservation: 1GiB
    memory_swap: 1536MiB
    cpus: 1.2345
    gpus: 2
    ipc: host
    ports: ["127.0.0.1:2222:22/udp", "9000:9000"]
    volumes: ["/a:/a:ro", "/b:/b"]
    workspace: /w
    secrets: [jupyter_token, ssh-key]
    env: {my.env-name: "1", MyEnvName1: x, _X: "$(y)"}
`))
			require.NoError(t, err)
			plan, err = s.Plan(Host{}, PlanOptions{})
			require.NoError(t, err)
		} else {
			plan = planGolden(t, name)
		}
		out, err := Kubernetes(plan.Users)
		require.NoError(t, err)
		pods := strictPods(t, out)
		require.Len(t, pods, len(plan.Users))
		for i, pod := range pods {
			q := plan.Users[i]
			assert.Empty(t, validation.IsDNS1123Subdomain(pod.Name), "pod name %q", pod.Name)
			require.Len(t, pod.Spec.Containers, 1)
			c := pod.Spec.Containers[0]
			assert.Empty(t, validation.IsDNS1123Label(c.Name), "container name %q", c.Name)
			for _, e := range c.Env {
				assert.Empty(t, validation.IsEnvVarName(e.Name), "env %q", e.Name)
			}
			vols := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				assert.Empty(t, validation.IsDNS1123Label(v.Name), "volume %q", v.Name)
				vols[v.Name] = true
				if v.Projected != nil {
					for _, src := range v.Projected.Sources {
						assert.Empty(t, validation.IsDNS1123Subdomain(src.Secret.Name), "secret %q", src.Secret.Name)
						for _, it := range src.Secret.Items {
							assert.Empty(t, validation.IsConfigMapKey(it.Key), "secret key %q", it.Key)
						}
					}
				}
			}
			for _, m := range c.VolumeMounts {
				assert.True(t, vols[m.Name], "mount of an undefined volume %q", m.Name)
			}
			if q.Memory > 0 {
				assert.Equal(t, int64(q.Memory), c.Resources.Limits.Memory().Value(), "memory limit")
			}
			if q.CPUs > 0 {
				assert.Equal(t, q.CPUs.Millis(), c.Resources.Limits.Cpu().MilliValue(), "cpu limit")
			}
			if n := len(q.GPUs.IDs); n > 0 {
				g := c.Resources.Limits[corev1.ResourceName("nvidia.com/gpu")]
				assert.Equal(t, int64(n), g.Value())
			}
			for _, v := range pod.Spec.Volumes {
				if v.Name == "dshm" {
					want := q.ShmSize
					if want == 0 {
						want = DockerShmDefault
					}
					assert.Equal(t, int64(want), v.EmptyDir.SizeLimit.Value())
				}
			}
		}
	}
}

// TestK8sQuantityRoundTrip checks K8sQuantity against apimachinery's parser.
func TestK8sQuantityRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := r.Int64N(1 << 50)
		if r.IntN(2) == 0 {
			n &^= 1<<20 - 1
		}
		s := K8sQuantity(units.Size(n))
		q, err := resource.ParseQuantity(s)
		require.NoError(t, err, s)
		assert.Equal(t, n, q.Value(), s)
	}
}

// TestNameRulesMatchApimachinery compares the name checks with
// apimachinery's on random and edge-case strings.
func TestNameRulesMatchApimachinery(t *testing.T) {
	alphabet := "abcxyzABZ019-._/ :=\n\xff"
	r := rand.New(rand.NewPCG(3, 4))
	cases := []string{"", "a", "-a", "a-", "a.b", "..", ".", "..a", "1BAD", "_x", strings.Repeat("a", 63), strings.Repeat("a", 64), "Dave_GPU.1", "dave-gpu-1"}
	for range 20000 {
		n := r.IntN(70)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		assert.Equal(t, len(validation.IsDNS1123Label(s)) == 0, isDNS1123Label(s), "DNS-1123 label %q", s)
		assert.Equal(t, len(validation.IsEnvVarName(s)) == 0, isEnvVarName(s), "env name %q", s)
	}
}

func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"a", "1BAD", "Dave_GPU.1", "..x", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isDNS1123Label(s), len(validation.IsDNS1123Label(s)) == 0; got != want {
			t.Fatalf("isDNS1123Label(%q) = %v, apimachinery %v", s, got, want)
		}
		if got, want := isEnvVarName(s), len(validation.IsEnvVarName(s)) == 0; got != want {
			t.Fatalf("isEnvVarName(%q) = %v, apimachinery %v", s, got, want)
		}
	})
}
