package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// examplesDir is the repository's examples folder, the files users copy.
var examplesDir = filepath.Join("..", "..", "..", "examples")

// TestExampleTendYAMLLoads loads examples/tend.yaml as the containers of
// examples/k8s/pod.yaml read it: as is, and with the sidecar's override.
func TestExampleTendYAMLLoads(t *testing.T) {
	file := filepath.Join(examplesDir, "tend.yaml")
	cfg, err := Load(file, Options{Home: "/home/jupyter", Env: []string{}})
	require.NoError(t, err)
	require.NotNil(t, cfg.Sweep)
	require.NotNil(t, cfg.Rotate)
	require.NotNil(t, cfg.Health)
	assert.Nil(t, cfg.Images, "image pruning is the host's job")
	assert.Equal(t, Path("/home/jupyter/.cache/huggingface/hub"), cfg.Sweep.Rules[0].Path)
	assert.Equal(t, "copytruncate", cfg.Rotate.Files[0].Method)

	_, err = Load(file, Options{Home: "/home/jupyter", Env: []string{"TEND_SWEEP_OLDER_THAN=10d"}})
	require.NoError(t, err, "the Pod's sidecar sets TEND_SWEEP_OLDER_THAN=10d")
}
