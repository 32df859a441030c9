package quota

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
	"github.com/tendkit/tend/units"
)

// TestComposeLoadsInComposeGo loads every golden compose file with
// compose-go, the loader docker compose v2 uses, and requires no error and
// no warning, and the limits to read back as the spec set them.
func TestComposeLoadsInComposeGo(t *testing.T) {
	var logs bytes.Buffer
	logrus.SetOutput(&logs)
	t.Cleanup(func() { logrus.SetOutput(os.Stderr) })
	for _, name := range goldenSpecs(t) {
		t.Run(name, func(t *testing.T) {
			plan := planGolden(t, name)
			data, err := Compose(plan.Users)
			require.NoError(t, err)
			logs.Reset()
			project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
				WorkingDir:  t.TempDir(),
				ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: data}},
				Environment: types.Mapping{"USER": "should-not-be-used"},
			}, func(o *loader.Options) { o.SetProjectName("tend-test", true) })
			require.NoError(t, err)
			assert.Empty(t, logs.String(), "compose-go warned")
			require.Len(t, project.Services, len(plan.Users))
			// Every secret a service mounts is defined, with its file.
			for _, q := range plan.Users {
				for _, sec := range q.Secrets {
					def, ok := project.Secrets[sec.Name]
					require.True(t, ok, "secret %s used by %s is not defined", sec.Name, q.Name)
					assert.Equal(t, sec.File, def.File)
				}
				svc := project.Services[q.Name]
				assert.Equal(t, string(q.Logging.Effective().Driver), svc.Logging.Driver, "log driver")
				assert.NotEmpty(t, svc.Logging.Options["max-size"], "log capped")
			}
			for _, q := range plan.Users {
				svc, ok := project.Services[q.Name]
				require.True(t, ok, q.Name)
				res := svc.Deploy.Resources
				assert.Equal(t, int64(q.Memory), int64(svc.MemLimit), q.Name)
				assert.InDelta(t, float64(q.CPUs)/1e9, float64(svc.CPUS), 1e-9, q.Name)
				assert.Equal(t, q.PidsLimit, svc.PidsLimit, q.Name)
				assert.Equal(t, int64(q.MemoryReservation), int64(res.Reservations.MemoryBytes), q.Name)
				assert.Equal(t, int64(q.ShmSize), int64(svc.ShmSize), q.Name)
				require.Len(t, res.Reservations.Devices, 1, q.Name)
				assert.Equal(t, q.GPUs.IDs, res.Reservations.Devices[0].IDs, q.Name)
				for k, v := range q.Env {
					got := svc.Environment[k]
					require.NotNil(t, got, k)
					assert.Equal(t, v, *got, "%s: $ must survive interpolation", k)
				}
			}
		})
	}
}

// TestComposeAcceptedByDockerCompose runs Debian's docker-compose config on
// every golden compose file.
func TestComposeAcceptedByDockerCompose(t *testing.T) {
	dc := testenv.LookPath(t, "docker-compose", "docker-compose")
	for _, name := range goldenSpecs(t) {
		t.Run(name, func(t *testing.T) {
			plan := planGolden(t, name)
			data, err := Compose(plan.Users)
			require.NoError(t, err)
			dir := t.TempDir()
			file := filepath.Join(dir, "docker-compose.yml")
			require.NoError(t, os.WriteFile(file, data, 0o644))
			cmd := exec.Command(dc, "--project-name", "tend-test", "-f", file, "config")
			cmd.Env = append(os.Environ(), "USER=should-not-be-used")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "docker-compose config: %s", stderr.String())
			assert.NotContains(t, strings.ToLower(stderr.String()), "warn", "docker-compose warned")
			for _, q := range plan.Users {
				assert.Contains(t, string(out), q.Name+":")
				for _, v := range q.Env {
					assert.Contains(t, string(out), strings.ReplaceAll(v, "$", "$$"))
				}
			}
		})
	}
	_ = units.GiB
}
