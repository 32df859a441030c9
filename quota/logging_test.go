package quota

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"
)

// TestLogCapsInEveryFormat: the default cap, a changed one, `none` and
// `max_size: unlimited` render the same way in docker arguments, compose
// files and Pod headers, and the cap is off only where the spec asks.
func TestLogCapsInEveryFormat(t *testing.T) {
	s, err := ParseSpec("l.yaml", []byte(`host: {memory: 64GiB, cpus: 8}
defaults: {image: busybox:1, memory: 1GiB, memory_swap: 1GiB}
users:
  - name: plain
  - name: local
    logging: {driver: local, max_size: 50MiB, max_file: 3}
  - name: off
    logging: {max_size: unlimited}
  - name: off-local
    logging: {driver: local, max_size: -1, max_file: 2}
  - name: nolog
    logging: {driver: none, max_size: 1MiB}
  - name: empty-driver
    logging: {driver: "", max_file: 7}
`))
	require.NoError(t, err)
	plan, err := s.Plan(Host{}, PlanOptions{})
	require.NoError(t, err)
	want := map[string]struct {
		driver, size, files string // "" size: no cap
	}{
		"plain":        {"json-file", "10m", "5"},
		"local":        {"local", "50m", "3"},
		"off":          {"json-file", "", ""},
		"off-local":    {"local", "", ""},
		"nolog":        {"none", "", ""},
		"empty-driver": {"json-file", "10m", "7"},
	}
	var warned []string
	for _, w := range plan.Warnings {
		warned = append(warned, w.User)
		assert.Contains(t, w.Error(), "not capped")
	}
	assert.ElementsMatch(t, []string{"off", "off-local"}, warned, "a warning for each uncapped log, and only those")

	data, err := Compose(plan.Users)
	require.NoError(t, err)
	var doc struct {
		Services map[string]struct {
			Logging struct {
				Driver  string            `yaml:"driver"`
				Options map[string]string `yaml:"options"`
			} `yaml:"logging"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	pods, err := Kubernetes(plan.Users)
	require.NoError(t, err)
	for _, q := range plan.Users {
		w := want[q.Name]
		args, err := DockerArgs(q)
		require.NoError(t, err)
		line := strings.Join(args, " ")
		assert.Contains(t, line, "--log-driver "+w.driver, q.Name)
		svc := doc.Services[q.Name]
		assert.Equal(t, w.driver, svc.Logging.Driver, q.Name)
		if w.size == "" {
			assert.NotContains(t, line, "--log-opt", q.Name)
			assert.Empty(t, svc.Logging.Options, q.Name)
			assert.Equal(t, w.driver == "none", q.Logging.Capped(), q.Name)
		} else {
			assert.Contains(t, line, "--log-opt max-file="+w.files+" --log-opt max-size="+w.size, q.Name)
			assert.Equal(t, map[string]string{"max-size": w.size, "max-file": w.files}, svc.Logging.Options, q.Name)
			assert.True(t, q.Logging.Capped(), q.Name)
		}
		assert.Equal(t, q.Logging.Effective(), q.Logging.Effective().Effective(), "%s: Effective is idempotent", q.Name)
	}
	text := string(pods)
	assert.Equal(t, 2, strings.Count(text, "the spec asks for no cap"), "Pods of off and off-local:\n%s", text)
	assert.Contains(t, text, "the spec asks local 50MiB x 3")
	assert.Contains(t, text, "the spec asks none")
}
