package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRuleProblemsAreConfigErrors runs the real tasks on a config whose
// sweep rules the cleanup package rejects (no older_than and no
// keep_under; an empty glob) next to a good rule: every problem is named
// with file:line:field, the exit code is 2, and nothing ran: the old file
// under the good rule is still there.
func TestRuleProblemsAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "cache", "old.bin")
	require.NoError(t, os.MkdirAll(filepath.Dir(old), 0o755))
	require.NoError(t, os.WriteFile(old, []byte("x"), 0o644))
	past := time.Now().Add(-30 * 24 * time.Hour)
	require.NoError(t, os.Chtimes(old, past, past))

	cfg := filepath.Join(dir, "tend.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`sweep:
  rules:
    - path: `+filepath.Join(dir, "cache")+`
      older_than: 1d
    - path: /tmp/x
      age: mtime
    - path: /tmp/y
      older_than: 1d
      exclude: ["*.keep", ""]
`), 0o644))
	var stdout, stderr bytes.Buffer
	code := newCommand(&stdout, &stderr).run(context.Background(), []string{"--once", "--config", cfg})
	assert.Equal(t, 2, code, "a config error, before anything runs\n%s", stderr.String())
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	require.Len(t, lines, 2, "one problem per line (cli.PrintErrors), as the README shows:\n%s", stderr.String())
	assert.True(t, strings.HasPrefix(lines[0], cfg+":5: field sweep.rules[1]: older_than is 0 and there is no keep_under budget"), lines[0])
	assert.Equal(t, cfg+`:9: field sweep.rules[2].exclude[1]: bad glob "": an empty glob matches nothing`, lines[1])
	assert.FileExists(t, old, "the good rule did not run either")
}
