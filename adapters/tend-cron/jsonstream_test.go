package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
)

// TestOnceJSONStreamsSweepReport: --once --json writes the document
// json.Marshal would, with the sweep's report streamed, its non-UTF-8
// names kept exactly.
func TestOnceJSONStreamsSweepReport(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, n := range []string{"bad\xfe", "bad\xff", "ok"} {
		p := filepath.Join(root, n)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
		require.NoError(t, os.Chtimes(p, old, old))
	}
	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}}
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	rep := onceReport{Version: "v", Config: "c", DryRun: true, OK: true, Tasks: []runRecord{
		{Task: "sweep", DryRun: true, OK: true, Report: plan},
		{Task: "rotate", DryRun: true, OK: true, Report: map[string]int{"n": 1}},
	}}
	var b bytes.Buffer
	require.NoError(t, writeOnceJSON(&b, rep))
	require.True(t, json.Valid(b.Bytes()), "%s", b.String())
	var got struct {
		Version string
		OK      bool
		Tasks   []struct {
			Task   string
			Report json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	assert.Equal(t, "v", got.Version)
	require.Len(t, got.Tasks, 2)
	var sweep struct {
		Deleted int
		Items   []cleanup.Item
	}
	require.NoError(t, json.Unmarshal(got.Tasks[0].Report, &sweep))
	assert.Equal(t, 3, sweep.Deleted)
	var names []string
	for _, it := range sweep.Items {
		names = append(names, filepath.Base(it.Path))
	}
	assert.Equal(t, []string{"bad\xfe", "bad\xff", "ok"}, names)
	assert.JSONEq(t, `{"n":1}`, string(got.Tasks[1].Report))
}
