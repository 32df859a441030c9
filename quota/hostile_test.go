package quota

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// randomSpec writes n users in a mix of styles, with good and bad values,
// unknown keys, comments and blank lines.
func randomSpec(r *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteString("# header\nhost: {memory: 1TiB, cpus: 64, gpus: [\"0\", \"1\", \"2\"]}\ndefaults:\n  image: busybox:1\n  memory: 1GiB\nusers:\n")
	vals := map[string][]string{
		"memory":     {"2GiB", "1e19", "-1g", "4m", "512MiB"},
		"cpus":       {"1", "0.5", "abc", "500m", "99"},
		"gpus":       {"1", "all", "[\"2\"]", "two", "5"},
		"pids_limit": {"100", "-5", "x"},
		"memroy":     {"1g"},
		"env":        {"{A: b}", "{1BAD: x}", "[x]"},
		"port":       {"auto", "70000", "9000"},
		"shm_size":   {"1GiB", "-1"},
	}
	keys := []string{"memory", "cpus", "gpus", "pids_limit", "memroy", "env", "port", "shm_size"}
	for i := range n {
		name := fmt.Sprintf("user-%d", i)
		if r.IntN(50) == 0 {
			name = "Bad_Name"
		}
		if r.IntN(20) == 0 {
			b.WriteString("  # a comment\n\n")
		}
		var fields []string
		for _, k := range keys {
			if r.IntN(4) == 0 {
				v := vals[k]
				fields = append(fields, k+": "+v[r.IntN(len(v))])
			}
		}
		if r.IntN(2) == 0 {
			b.WriteString("  - {name: " + name)
			for _, f := range fields {
				b.WriteString(", " + f)
			}
			b.WriteString("}\n")
		} else {
			b.WriteString("  - name: " + name + "\n")
			for _, f := range fields {
				b.WriteString("    " + f + "\n")
			}
		}
	}
	b.WriteString("headroom: 95%\n")
	return b.String()
}

// TestChunkedParseMatchesWhole is a property test: the users list parsed in
// chunks on several CPUs gives the same users and problems, with the same
// lines, as the whole document parsed at once.
func TestChunkedParseMatchesWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 7, chunkUsers - 1, chunkUsers, chunkUsers + 1, 2*chunkUsers + 17} {
		data := []byte(randomSpec(r, n))
		chunked, err := parseChunked("r.yaml", data)
		require.NoError(t, err, "n=%d", n)
		whole, err := parseWhole("r.yaml", data)
		require.NoError(t, err)
		SortProblems(chunked.parsed)
		SortProblems(whole.parsed)
		require.Equal(t, whole.Users, chunked.Users, "n=%d", n)
		require.Equal(t, whole.users, chunked.users, "n=%d: lines", n)
		require.Equal(t, problemTexts(whole.parsed), problemTexts(chunked.parsed), "n=%d", n)
		pc, errc := chunked.Plan(Host{}, PlanOptions{})
		pw, errw := whole.Plan(Host{}, PlanOptions{})
		assert.Equal(t, problemTexts(Problems(errw)), problemTexts(Problems(errc)))
		assert.Equal(t, problemTexts(pw.Warnings), problemTexts(pc.Warnings))
	}
}

// TestHostileSpecs: each ends quickly with a clear problem.
func TestHostileSpecs(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := string(i - 1)
		laughs += fmt.Sprintf("%c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"billion laughs in a user", strings.Replace(laughs, "a: ", "x: ", 1) + "container: {name: aa, image: x, ports: *j}\n", ""},
		{"alias bomb", "big: &big [" + strings.Repeat("aa, ", 20000) + "aa]\nusers:\n" + strings.Repeat("  - {name: aa, image: x, secrets: *big}\n", 2000), "more than 1048576 values, aliases expanded"},
		{"deep nesting", "container: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n", ""},
		{"long number", "container: {name: aa, image: x, memory: " + strings.Repeat("9", 1<<20) + "}\n", "too long for a number"},
		{"many cpus", "host: {memory: 1g, cpus: 400000000}\ncontainer: {name: aa, image: x}\n", "over the limit of 65536 (MaxCPUs)"},
		{"wide cpuset", "host: {memory: 1g, cpus: 4}\ncontainer: {name: aa, image: x, cpuset: \"" + strings.Repeat("0-65535,", 10000) + "0\"}\n", "names more than 65536 CPUs"},
		{"huge cpu number", "host: {memory: 1g, cpus: 4}\ncontainer: {name: aa, image: x, cpuset: \"0-999999999\"}\n", "over the limit"},
		{"too many gpus", "host: {memory: 1g, cpus: 4, gpus: [" + strings.Repeat("\"x\", ", 5000) + "\"y\"]}\ncontainer: {name: aa, image: x}\n", "over the limit of 4096 (MaxGPUs)"},
		{"gpu count", "container: {name: aa, image: x, gpus: 99999999999}\n", "give a count"},
		{"newline in a key", "container: {name: aa, image: x, \"a\\nb\": 1}\n", `unknown key "a\nb"`},
		{"invalid utf-8", "container: {name: \"\\xff\\xfe\", image: x}\n", "not a docker container name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := ParseSpec("h.yaml", []byte(tc.spec))
			if s != nil {
				_, err = s.Plan(Host{Memory: 1 << 30, CPUs: []int{0, 1}}, PlanOptions{})
			}
			require.Error(t, err)
			if tc.want != "" {
				assert.Contains(t, err.Error(), tc.want)
			}
			t.Logf("%.300s", err)
			for _, p := range Problems(err) {
				assert.NotContains(t, p.Error(), "\n")
				assert.Less(t, len(p.Error()), 2000, "a problem stays short")
			}
			assert.Less(t, time.Since(start), 20*time.Second)
		})
	}
}

// TestUsersCountCheckedFirst: a list longer than MaxUsers is refused
// before any user is decoded.
func TestUsersCountCheckedFirst(t *testing.T) {
	var b strings.Builder
	b.WriteString("users:\n")
	for range MaxUsers + 1 {
		b.WriteString("- x\n")
	}
	_, err := ParseSpec("m.yaml", []byte(b.String()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "262145 users, over the limit of 262144 (MaxUsers)")
	assert.Len(t, Problems(err), 1)
}

// TestDuplicateNamesNeverShareAGPU: two users with the same name asking for
// a GPU each get different GPUs, and the duplicate is one problem naming
// both lines.
func TestDuplicateNamesNeverShareAGPU(t *testing.T) {
	s, err := ParseSpec("d.yaml", []byte("host: {memory: 8g, cpus: 2, gpus: [\"0\", \"1\"]}\ndefaults: {image: x, memory: 1g, memory_swap: 1g}\nusers:\n  - {name: ann, gpus: 1}\n  - {name: ann, gpus: 1}\n"))
	require.NoError(t, err)
	p, err := s.Plan(Host{}, PlanOptions{})
	ps := Problems(err)
	require.Len(t, ps, 1, "%v", err)
	assert.Equal(t, `d.yaml:5: user ann: field users[1].name: two users are named "ann": this one and the one on line 4 (users[0]); names must be unique`, ps[0].Error())
	assert.ErrorIs(t, err, ErrDuplicateName)
	assert.Equal(t, []string{"0"}, p.Users[0].GPUs.IDs)
	assert.Equal(t, []string{"1"}, p.Users[1].GPUs.IDs)
	assert.Empty(t, p.Warnings)
}

// TestParseCPUsRefusesExponentsFirst: found by FuzzParseSpec, "1e999999999"
// made math/big run for minutes.
func TestParseCPUsRefusesExponentsFirst(t *testing.T) {
	for _, s := range []string{"1e999999999", "1E99999999m", "0x1p99999999", "1_000"} {
		start := time.Now()
		_, err := ParseCPUs(s)
		assert.Error(t, err, s)
		assert.Less(t, time.Since(start), time.Second, s)
	}
	n, err := ParseCPUs("1.5")
	require.NoError(t, err)
	assert.Equal(t, NanoCPUs(1.5e9), n)
}

// TestNamesThatMapToOneName: a bad name whose lowercase form is another
// user's name, or what another bad name maps to, is a problem naming both
// users (following the advice must not make two users one), and a name
// with a space at its end is shown quoted.
func TestNamesThatMapToOneName(t *testing.T) {
	s, err := ParseSpec("n.yaml", []byte(`host: {memory: 64GiB, cpus: 8}
defaults: {image: busybox:1, memory: 1GiB, memory_swap: 1GiB}
users:
  - name: Dave_GPU.1
  - name: dave-gpu-1
  - name: "ann "
  - name: ann
  - name: Eve.X
  - name: eve_x
  - name: Zed
  - name: Zed
  - name: A_
`))
	require.NoError(t, err)
	_, err = s.Plan(Host{}, PlanOptions{})
	assert.Equal(t, []string{
		`n.yaml:4: user Dave_GPU.1: field users[0].name: "Dave_GPU.1" cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (not "dave-gpu-1": the user on line 5 (users[1]) is named so): name not valid where it is used`,
		`n.yaml:6: user "ann ": field users[2].name: "ann " is not a docker container name (letters, digits, _ . -, starting with a letter or digit, at least 2 characters) (not "ann": the user on line 7 (users[3]) is named so): name not valid where it is used`,
		`n.yaml:8: user Eve.X: field users[4].name: "Eve.X" cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. "eve-x"): name not valid where it is used`,
		`n.yaml:9: user eve_x: field users[5].name: "eve_x" cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (not "eve-x": the name of the user on line 8 (users[4]) maps to it too): name not valid where it is used`,
		`n.yaml:10: user Zed: field users[6].name: "Zed" cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. "zed"): name not valid where it is used`,
		`n.yaml:11: user Zed: field users[7].name: two users are named "Zed": this one and the one on line 10 (users[6]); names must be unique`,
		`n.yaml:11: user Zed: field users[7].name: "Zed" cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. "zed"): name not valid where it is used`,
		`n.yaml:12: user A_: field users[8].name: "A_" cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters: name not valid where it is used`,
	}, problemTexts(Problems(err)))
	for _, p := range Problems(err) {
		assert.True(t, errors.Is(p, ErrBadName) != errors.Is(p, ErrDuplicateName), "errors.Is finds the kind: %v", p)
	}
	// Without a spec (Validate alone) the other user is named by index.
	_, err = Validate(Host{Memory: 64 << 30}, []QuotaSpec{{Name: "a_b", Image: "x", Memory: 1 << 30, MemorySwap: 1 << 30}, {Name: "a-b", Image: "x", Memory: 1 << 30, MemorySwap: 1 << 30}}, ValidateOptions{})
	assert.ErrorContains(t, err, `(not "a-b": users[1] is named so)`)
}

// TestOverBudgetStopsThere: a spec whose aliases expand past the reader's
// budget is reported as such, without a "missing" problem for each user
// the reader did not get to (whole or in chunks).
func TestOverBudgetStopsThere(t *testing.T) {
	var b strings.Builder
	b.WriteString("host: {memory: 100TiB, cpus: 8}\ndefaults: &d {image: busybox, memory: 1g, memory_swap: 1g, volumes: [")
	for i := range 5000 {
		fmt.Fprintf(&b, "\"/d%d:/d%d:ro\", ", i, i)
	}
	b.WriteString("\"/x:/x:ro\"]}\nusers:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "  - {<<: *d, name: u%d}\n", i)
	}
	s, err := ParseSpec("b.yaml", []byte(b.String()))
	assert.True(t, s == nil, "no spec from a file the reader stopped reading")
	assert.Equal(t, []string{"b.yaml:2: the spec holds more than 1048576 values, aliases expanded: over a limit of the spec reader"}, problemTexts(Problems(err)))

	// No aliases: 2,058 users of 300 env values each (more values than a
	// decoder walks, in all) are read in chunks small enough for the budget.
	b.Reset()
	b.WriteString("host: {memory: 100TiB, cpus: 8}\ndefaults: {image: busybox, memory: 1g, memory_swap: 1g}\nusers:\n")
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("K%d: v", i)
	}
	env := strings.Join(keys, ", ")
	for i := range chunkUsers + 10 {
		fmt.Fprintf(&b, "  - name: u%d\n    env: {%s}\n", i, env)
	}
	s, err = ParseSpec("c.yaml", []byte(b.String()))
	require.NoError(t, err)
	require.Len(t, s.Users, chunkUsers+10)
	assert.Len(t, s.Users[chunkUsers+9].Env, 300)
}

// TestSizesCheckedBeforeTrees: a spec near MaxSpecSize that is one huge
// user, or a huge part outside the users list, is refused before its YAML
// tree (about 50 times its text) is built; a large list of small users is
// parsed in chunks of at most chunkBytes.
func TestSizesCheckedBeforeTrees(t *testing.T) {
	keys := make([]string, 0, 1<<20)
	for i := range cap(keys) / 8 {
		keys = append(keys, fmt.Sprintf("K%d: v", i))
	}
	env := "{" + strings.Join(keys, ", ") + "}"
	head := "host: {memory: 100TiB, cpus: 8}\ndefaults: {image: busybox, memory: 1g, memory_swap: 1g}\n"
	s, err := ParseSpec("u.yaml", []byte(head+"users:\n  - name: aa\n  - name: bb\n    env: "+env+"\n"))
	assert.True(t, s == nil)
	assert.Equal(t, []string{fmt.Sprintf("u.yaml:5: field users[1]: %d bytes of YAML for one user, over the limit of 1048576: over a limit of the spec reader", len(env)+23)}, problemTexts(Problems(err)))

	var b strings.Builder
	b.WriteString("host: {memory: 100TiB, cpus: 8}\ndefaults: {image: busybox, memory: 1g, memory_swap: 1g, env: {" + strings.Repeat(env[1:len(env)-1]+", ", 3) + "X: y}}\nusers:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - name: u%d\n", i)
	}
	s, err = ParseSpec("r.yaml", []byte(b.String()))
	assert.True(t, s == nil)
	assert.Contains(t, err.Error(), "bytes outside the users list, over the limit of 4194304")

	// 3000 users of 600 bytes each: chunks by bytes, not by count.
	items := make([]int, 3000)
	for i := range items {
		items[i] = i * 600
	}
	starts := chunkStarts(items, 3000*600)
	require.Greater(t, len(starts), 6)
	for c, first := range starts {
		last := len(items)
		if c+1 < len(starts) {
			last = starts[c+1]
		}
		assert.LessOrEqual(t, (last-first)*600, chunkBytes)
	}
	for i := range items {
		items[i] = i * 10
	}
	assert.Equal(t, []int{0, 2048}, chunkStarts(items, 3000*10), "small users: chunks by count")
}

// TestMountPointsTendOwns: docker refuses "/data" and "/data/" as two
// mounts ("Duplicate mount point") and a volume where a secret is mounted;
// a volume over /dev/shm makes docker ignore shm_size. Each is a problem.
func TestMountPointsTendOwns(t *testing.T) {
	s, err := ParseSpec("v.yaml", []byte(`host: {memory: 8g, cpus: 2}
secrets: {tok: {file: /etc/tok}}
defaults: {image: busybox, memory: 1g, memory_swap: 1g}
users:
  - {name: aa, volumes: ["/a:/data", "/b:/data/"]}
  - {name: bb, volumes: ["/c:/dev/shm/"]}
  - {name: cc, secrets: [tok], volumes: ["/d:/run/secrets/tok", "/e:/run/secrets"]}
  - {name: dd, volumes: ["/f:/run/secrets/tok"]}
  - {name: ee, workspace: /w, volumes: ["/g:/workspace/"]}
`))
	require.NoError(t, err)
	_, err = s.Plan(Host{}, PlanOptions{})
	assert.Equal(t, []string{
		"v.yaml:5: user aa: field users[0].volumes: two volumes are mounted at /data",
		"v.yaml:6: user bb: field users[1].volumes: /c is mounted over /dev/shm: set shm_size (or ipc: host) instead (docker ignores shm_size under such a mount; a Pod cannot mount /dev/shm twice)",
		"v.yaml:7: user cc: field users[2].volumes: /d is mounted at /run/secrets/tok, where the user's secrets are mounted: choose another place",
		"v.yaml:7: user cc: field users[2].volumes: /e is mounted at /run/secrets, where the user's secrets are mounted: choose another place",
		"v.yaml:9: user ee: field users[4].volumes: two volumes are mounted at /workspace",
	}, problemTexts(Problems(err)), "dd mounts no secret: /run/secrets is free")
}

// TestImageReferencesAsDockerSaysThem: the references docker 20.10 (this
// machine's engine) takes and refuses with `docker create --pull never`
// ("No such image" versus "invalid reference format"), as checkImage sees
// them.
func TestImageReferencesAsDockerSaysThem(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("a", 64)
	for _, ok := range []string{
		"busybox", "busybox:LATEST", "Registry.Example.com:5000/team/img:1", "localhost:5000/team/img" + digest,
		"busybox:1" + digest, "a/b/c/d/e:1", "registry.example.com:99999/x",
	} {
		assert.NoError(t, checkImage(ok), ok)
	}
	for _, bad := range []string{
		"Busybox", "busybox:-x", "img@sha256:abc", "registry.example.com:5000/Team/img:1", "busybox:", " busybox", "busybox ",
	} {
		assert.ErrorIs(t, checkImage(bad), ErrBadName, bad)
	}
}

// TestUnlimitedSwapWarns: memory_swap -1 is what the spec asks, so not a
// problem, but it is said once, as max_size: unlimited is.
func TestUnlimitedSwapWarns(t *testing.T) {
	s, err := ParseSpec("s.yaml", []byte("host: {memory: 8g, cpus: 2}\ncontainer: {name: aa, image: busybox, memory: 1g, memory_swap: -1}\n"))
	require.NoError(t, err)
	p, err := s.Plan(Host{}, PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"s.yaml:2: warning: user aa: field container.memory_swap: -1: unlimited swap: the container may fill the host's swap once it reaches its 1GiB memory limit; set memory_swap to 1GiB for no swap"}, problemTexts(p.Warnings))
	args, err := DockerArgs(p.Users[0])
	require.NoError(t, err)
	assert.Contains(t, strings.Join(args, " "), "--memory-swap -1")
}
