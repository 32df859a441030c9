package quota

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// planGolden parses and plans a spec under testdata/golden.
func planGolden(t *testing.T, name string) *Plan {
	t.Helper()
	spec, err := LoadSpec(context.Background(), filepath.Join("testdata/golden", name+".yaml"))
	require.NoError(t, err)
	plan, err := spec.Plan(Host{}, PlanOptions{})
	require.NoError(t, err)
	return plan
}

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata/golden", file)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./quota -run Golden -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; run with -update and review the diff", path)
}

func goldenSpecs(t *testing.T) []string {
	files, err := filepath.Glob("testdata/golden/*.yaml")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.Contains(strings.TrimSuffix(base, ".yaml"), ".") {
			names = append(names, strings.TrimSuffix(base, ".yaml"))
		}
	}
	require.NotEmpty(t, names)
	return names
}

func TestGolden(t *testing.T) {
	for _, name := range goldenSpecs(t) {
		t.Run(name, func(t *testing.T) {
			plan := planGolden(t, name)
			var lines, warnings []string
			for _, q := range plan.Users {
				args, err := DockerArgs(q)
				require.NoError(t, err)
				lines = append(lines, ShellLine(append([]string{"docker"}, args...)...))
			}
			for _, w := range plan.Warnings {
				warnings = append(warnings, w.Error())
			}
			golden(t, name+".docker.sh", []byte(strings.Join(lines, "\n")+"\n"))
			golden(t, name+".warnings.txt", []byte(strings.Join(warnings, "\n")+"\n"))
			compose, err := Compose(plan.Users)
			require.NoError(t, err)
			golden(t, name+".compose.yaml", compose)
			k8s, err := Kubernetes(plan.Users)
			require.NoError(t, err)
			golden(t, name+".k8s.yaml", k8s)
		})
	}
}
