package quota

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/units"
)

const hostHeader = `host: {memory: 64GiB, cpus: 8, gpus: ["0", "1", "2", "3"]}
defaults: {image: "busybox:latest"}
`

func TestParseSizesAsDocker(t *testing.T) {
	for _, text := range []string{"6g", "6G", "6Gi", "6GiB", "6442450944"} {
		s, err := ParseSpec("s.yaml", []byte("container: {name: box, image: x, memory: "+text+"}"))
		require.NoError(t, err, text)
		assert.Equal(t, 6*units.GiB, s.Users[0].Memory, "%s means 6 GiB, as for docker", text)
	}
}

// TestParseBadInput checks that each bad value is an error naming the
// file, the line, the user and the field.
func TestParseBadInput(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"  - {name: a, memory: 1e19}", `s.yaml:4: user a: field users[0].memory: size "1e19"`},
		{"  - {name: a, memory: -6g}", `field users[0].memory: size "-6g": negative`},
		{"  - {name: a, memory: 0.3k}", "not a whole number of bytes"},
		{"  - {name: a, memory: 99999999999T}", "too large"},
		{"  - {name: a, shm_size: 6GB2}", `size "6GB2"`},
		{"  - {name: a, cpus: 0.0000000001}", "value is too precise"},
		{"  - {name: a, cpus: -2}", `cpus "-2"`},
		{"  - {name: a, gpus: two}", `field users[0].gpus: "two": give a count`},
		{"  - {name: a, port: 70000}", `field users[0].port: "70000" is not a port number`},
		{"  - {name: a, ports: [\"22\"]}", "use HOST:CONTAINER"},
		{"  - {name: a, volumes: [\"data:/data\"]}", "both paths must be absolute"},
		{"  - {name: a, ulimits: {nofile: {soft: 1}}}", "ulimit nofile"},
		{"  - {name: a, pids_limit: -5}", "pids_limit"},
		{"  - {name: a, memroy: 6g}", `s.yaml:4: user a: field users[0].memroy: unknown key "memroy" in a user's settings (did you mean memory?)`},
		{"  - {memory: 6g}", "every user needs a name"},
	} {
		_, err := ParseSpec("s.yaml", []byte(hostHeader+"users:\n"+tc.yaml+"\n"))
		require.Error(t, err, tc.yaml)
		assert.Contains(t, err.Error(), tc.want, tc.yaml)
	}
}

func TestParseCollectsEveryProblem(t *testing.T) {
	_, err := ParseSpec("s.yaml", []byte(hostHeader+"users:\n  - {name: a, memory: 1e19, cpus: x}\n  - {name: b, shm_size: -1}\n"))
	ps := Problems(err)
	require.Len(t, ps, 3, "%v", err)
	assert.Equal(t, "users[0].memory", ps[0].Field)
	assert.Equal(t, "a", ps[0].User)
	assert.Equal(t, 4, ps[0].Line)
	assert.Equal(t, "b", ps[2].User)
	assert.Equal(t, 5, ps[2].Line)
}

func TestParseStructure(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "spec is empty"},
		{"- a", "expected a mapping"},
		{"users: []\n", "no users"},
		{"container: {name: a}\nusers: [{name: b}]\n", "either `users:` or `container:`"},
		{"headroom: 120%\ncontainer: {name: a}\n", `s.yaml:1: field headroom: percentage "120%"`},
		{"host: {memory: 1g, cpus: 0}\ncontainer: {name: a}\n", "field host.cpus"},
		{"users:\n  - {name: a}\n  bad", "s.yaml:"},
	} {
		_, err := ParseSpec("s.yaml", []byte(tc.yaml))
		require.Error(t, err, tc.yaml)
		assert.Contains(t, err.Error(), tc.want, tc.yaml)
	}
}

func plan(t *testing.T, body string) (*Plan, error) {
	t.Helper()
	s, err := ParseSpec("s.yaml", []byte(hostHeader+body))
	require.NoError(t, err)
	return s.Plan(Host{}, PlanOptions{})
}

// TestValidateDockerErrors reproduces what the docker daemon would reject.
func TestValidateDockerErrors(t *testing.T) {
	for _, tc := range []struct{ user, want string }{
		{"memory: 4m", "below docker's minimum of 6MiB"},
		{"memory: 1g, memory_reservation: 2g", "above the memory limit"},
		{"memory: 1g, memory_reservation: 1m", "Minimum memory reservation allowed is 6MB"},
		{"memory: 2g, memory_swap: 1g", "memory_swap: 1GiB is below the memory limit"},
		{"memory_swap: 1g", "set without memory"},
		{"cpus: 0.001", "docker allows 0.01 to 8.00"},
		{"cpus: 9", "docker allows 0.01 to 8.00"},
		{"cpuset: 6-9", "requested CPUs 8-9 are not on the host (available: 0-7)"},
		{"cpus: 3, cpuset: 0-1", "more than the 2 CPUs of cpuset 0-1"},
		{"ipc: shared", "not an ipc mode"},
		{"ulimits: {nofile: 10:5}", "soft limit 10 is above the hard limit 5"},
		{"ulimits: {openfiles: 5}", `unknown ulimit "openfiles"`},
		{"gpus: [\"7\"]", `GPU "7" is not on the host (it has 0, 1, 2, 3)`},
		{"gpus: 5", "asks for 5 GPUs but only 4"},
		{"memory: 1g, shm_size: 1g", "counts against memory"},
		{"memory: 80g", "more than the host's 64.0GiB"},
		{"user: \"a b\"", "not a user"},
	} {
		_, err := plan(t, "users:\n  - {name: alice, "+tc.user+"}\n")
		require.Error(t, err, tc.user)
		assert.Contains(t, err.Error(), "s.yaml:4: user alice: field users[0].", tc.user)
		assert.Contains(t, err.Error(), tc.want, tc.user)
	}
}

func TestValidateSharedProblems(t *testing.T) {
	_, err := plan(t, `users:
  - {name: alice, gpus: ["1"], memory: 30g, port: 9000, workspace: /data/a}
  - {name: bob, gpus: ["1", "2"], memory: 30g, port: 9000, workspace: /data/a}
  - {name: bob, memory: 1g}
`)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrGPUConflict), "two users on one GPU")
	assert.True(t, errors.Is(err, ErrPortConflict), "port clash")
	assert.True(t, errors.Is(err, ErrOverHeadroom), "61 GiB > 90% of 64 GiB")
	msg := err.Error()
	assert.Contains(t, msg, "s.yaml:5: user bob: field users[1].gpus: GPU 1 is also alice's")
	assert.Contains(t, msg, "field users[1].port: host port 9000/tcp is also published by alice")
	assert.Contains(t, msg, "/data/a is also mounted writable by alice")
	assert.Contains(t, msg, `two users are named "bob"`)
	assert.Contains(t, msg, "over 90% of the host's 64.0GiB")
}

func TestValidateWarnings(t *testing.T) {
	p, err := plan(t, `users:
  - {name: ann, image: pytorch/pytorch:2.8.0, memory: 8g, memory_swap: 8g}
  - {name: ben, image: pytorch/pytorch:2.8.0, memory: 8g, memory_swap: 8g, ipc: host, shm_size: 2g}
  - {name: cat, memory: 8g}
`)
	require.NoError(t, err)
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.Error())
	}
	all := strings.Join(got, "\n")
	assert.Contains(t, all, `user ann: field users[0].shm_size: /dev/shm of 64MiB is under 1GiB: PyTorch DataLoader workers die with "Bus error"`)
	assert.Contains(t, all, "user ben: field users[1].shm_size: docker ignores shm_size 2GiB with ipc: host")
	assert.Contains(t, all, "user cat: field users[2].memory_swap: not set: docker then allows as much swap as memory, 16GiB")
	assert.Len(t, got, 3)
}

func TestDefaultsBlamedOnDefaults(t *testing.T) {
	s, err := ParseSpec("s.yaml", []byte("host: {memory: 64GiB, cpus: 8}\ndefaults:\n  image: x\n  memory: 4m\nusers:\n  - {name: alice}\n"))
	require.NoError(t, err)
	_, err = s.Plan(Host{}, PlanOptions{})
	assert.ErrorContains(t, err, "s.yaml:4: user alice: field defaults.memory: 4MiB is below")
}

func TestLoadSpecMissing(t *testing.T) {
	_, err := LoadSpec(context.Background(), "testdata/nope.yaml")
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzParseSpec(f *testing.F) {
	for _, name := range []string{"testdata/golden/three-users.yaml", "testdata/golden/single.yaml", "../adapters/tend-compose/testdata/everything.yaml"} {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(hostHeader + "users:\n  - {name: a, memory: 1e19, gpus: [\"0\"], ulimits: {nofile: 1:2}}\n"))
	f.Add([]byte("container: {name: a, cpus: 500m, ports: [\"1.2.3.4:80:80/udp\"]}"))
	f.Add([]byte("base: &b {memory: 1g}\nusers:\n  - {<<: *b, name: aa}\n  - *b\n"))
	f.Add([]byte("users:\n- name: aa\n  secrets: [x]\n  logging: {max_size: unlimited}\nsecrets: {x: {file: /x}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec("fuzz.yaml", data)
		for _, p := range Problems(err) {
			require.NotEmpty(t, p.Error())
			require.NotContains(t, p.Error(), "\n", "a problem is one line")
		}
		if s == nil {
			return
		}
		p, err := s.Plan(Host{Memory: units.GiB, CPUs: []int{0, 1}}, PlanOptions{})
		ps := Problems(err)
		for i := 1; i < len(ps); i++ {
			require.LessOrEqual(t, ps[i-1].Line, ps[i].Line, "problems sorted by line")
		}
		if err == nil {
			_, err = Compose(p.Users)
			require.NoError(t, err)
			_, err = Kubernetes(p.Users)
			if err != nil {
				require.True(t, slices.ContainsFunc(p.Users, func(q QuotaSpec) bool { return q.GPUs.All }), "%v", err)
			}
			for _, q := range p.Users {
				_, err = DockerArgs(q)
				require.NoError(t, err)
			}
		}
		// The chunked parse and the whole-document parse agree.
		if w, werr := parseWhole("fuzz.yaml", data); werr == nil {
			SortProblems(w.parsed)
			require.Equal(t, w.Users, s.Users)
			require.Equal(t, problemTexts(w.parsed), problemTexts(s.parsed))
		}
	})
}

func problemTexts(ps []*Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}

// TestKeysSetTwiceEverywhere: a key set twice in any mapping of the spec
// is a problem naming the first line (not the last one silently winning),
// and two secrets that would be one Kubernetes Secret are a problem naming
// both.
func TestKeysSetTwiceEverywhere(t *testing.T) {
	_, err := ParseSpec("k.yaml", []byte(`host: {memory: 8g, cpus: 2, memory: 4g}
secrets:
  a_b: {file: /etc/one}
  a-b: {file: /etc/two}
  x: {file: /a, file: /b}
  x: {file: /c}
container:
  name: aa
  image: busybox
  logging: {driver: local, driver: none}
  ulimits: {nofile: {soft: 1, soft: 2, hard: 3}}
  env: {A: 1, A: 2}
`))
	assert.Equal(t, []string{
		"k.yaml:1: field host.memory: memory is set twice (first on line 1)",
		`k.yaml:4: field secrets.a-b: secrets "a-b" and "a_b" (line 3) would both be the Kubernetes Secret "a-b": rename one: name not valid where it is used`,
		"k.yaml:5: field secrets.x.file: file is set twice (first on line 5)",
		"k.yaml:6: field secrets.x: x is set twice (first on line 5)",
		"k.yaml:10: user aa: field container.logging.driver: driver is set twice (first on line 10)",
		"k.yaml:11: user aa: field container.ulimits.nofile.soft: soft is set twice (first on line 11)",
		`k.yaml:12: user aa: field container.env.A: "A" is set twice`,
	}, problemTexts(Problems(err)))
}

// TestPathsAndAddressesDockerRefuses: a workspace that is relative or
// holds ':' (docker: "invalid mode", or a volume name) and a port bound to
// an address that is not one are problems, not docker run errors.
func TestPathsAndAddressesDockerRefuses(t *testing.T) {
	_, err := ParseSpec("a.yaml", []byte(`host: {memory: 8g, cpus: 2}
defaults: {image: busybox, memory: 1g, memory_swap: 1g, workspace: data/x}
users:
  - {name: aa, workspace: "/data:ro"}
  - {name: bb, ports: ["999.1.1.1:8080:80", "127.0.0.1:8081:80", ":8082:80"]}
`))
	assert.Equal(t, []string{
		`a.yaml:2: field defaults.workspace: "data/x": give the absolute path of a directory on the host, without ':' (docker reads a relative one as a volume name)`,
		`a.yaml:4: user aa: field users[0].workspace: "/data:ro": give the absolute path of a directory on the host, without ':' (docker reads a relative one as a volume name)`,
		`a.yaml:5: user bb: field users[1].ports[0]: port "999.1.1.1:8080:80": "999.1.1.1" is not an IPv4 address`,
	}, problemTexts(Problems(err)))
}
