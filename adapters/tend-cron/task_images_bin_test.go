package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images/imagestest"
	"github.com/tendkit/tend/internal/testenv"
)

// --once --only images against an engine that never answers ends at the
// call timeout, exit 1, with an error naming the socket and the call.
func TestImagesHungEngineOnce(t *testing.T) {
	sock := testenv.HungSocket(t)
	cfg := testenv.WriteTemp(t, "tend.yaml", "images:\n  host: unix://"+sock+"\n  match: [\"*\"]\n  call_timeout: 500ms\n")
	tendCron(t) // built before the clock starts
	start := time.Now()
	p := startProc(t, nil, "--config", cfg, "--once", "--only", "images")
	assert.Equal(t, 1, p.wait(t))
	assert.Less(t, time.Since(start), 20*time.Second)
	out := p.stdout.String() + p.stderr.String()
	assert.Contains(t, out, sock)
	assert.Contains(t, out, "GET /images/json (list images) did not answer within 500ms")

	// The whole run has a deadline too.
	cfg = testenv.WriteTemp(t, "tend.yaml", "images:\n  host: unix://"+sock+"\n  match: [\"*\"]\n  call_timeout: 1h\n  timeout: 700ms\n")
	p = startProc(t, nil, "--config", cfg, "--once", "--only", "images", "--dry-run")
	assert.Equal(t, 1, p.wait(t))
	assert.Contains(t, p.stdout.String()+p.stderr.String(), "did not finish within 700ms (images.timeout)")
}

// SIGTERM ends a run waiting on a hung engine at once, exit 1 (the run did
// not finish).
func TestImagesHungEngineSIGTERM(t *testing.T) {
	sock := testenv.HungSocket(t)
	cfg := testenv.WriteTemp(t, "tend.yaml", "images:\n  host: unix://"+sock+"\n  match: [\"*\"]\n  call_timeout: 1h\n")
	p := startProc(t, nil, "--config", cfg, "--once", "--only", "images")
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
	assert.Contains(t, p.stdout.String()+p.stderr.String(), "canceled")
}

// In scheduler mode a run that hits a hung engine fails and the next run
// still happens.
func TestImagesHungEngineSchedulerRunsAgain(t *testing.T) {
	sock := testenv.HungSocket(t)
	cfg := testenv.WriteTemp(t, "tend.yaml", "images:\n  host: unix://"+sock+"\n  match: [\"*\"]\n  call_timeout: 300ms\n  schedule: \"@every 1s\"\n")
	p := startProc(t, nil, "--config", cfg)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.stderr.String(), "did not answer within 300ms") < 2 {
		require.True(t, time.Now().Before(deadline), "two failed runs expected; stderr:\n%s", p.stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	p.signal(t, syscall.SIGTERM)
	assert.Equal(t, 0, p.wait(t))
}

// In scheduler mode tend-cron follows the real engine's events: a
// `docker run --rm` job between two runs is recorded in the state file.
func TestImagesSchedulerFollowsEvents(t *testing.T) {
	testenv.Short(t)
	cli := testenv.Docker(t)
	testenv.LookPath(t, "busybox", "busybox-static")
	d := imagestest.NewDocker(cli, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if err := d.Cleanup(context.Background()); err != nil {
			t.Error(err)
		}
	})
	id, err := d.Build(ctx, 10<<10, 71, d.Repo("job")+":1")
	require.NoError(t, err)
	state := filepath.Join(t.TempDir(), "images.json")
	cfg := testenv.WriteTemp(t, "tend.yaml", "images:\n  match: [\""+d.Repo("*")+"\"]\n  labels: [\""+d.Label()+"\"]\n  unused_for: 30d\n  schedule: \"0 3 1 1 *\"\n  state: "+state+"\n")
	p := startProc(t, nil, "--config", cfg)
	p.waitOutput(t, "following engine events")
	time.Sleep(500 * time.Millisecond) // subscribed
	ran := time.Now()
	_, err = d.Exec(ctx, "run", "--rm", "--label", d.Label(), id, "/bin/busybox", "true")
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Images map[string]struct {
				LastUsed time.Time `json:"last_used"`
			} `json:"images"`
		}
		b, _ := os.ReadFile(state)
		if json.Unmarshal(b, &st) == nil && !st.Images[id].LastUsed.Before(ran.Truncate(time.Second)) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run --rm was not recorded; state %s\nstderr:\n%s", b, p.stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	p.signal(t, syscall.SIGTERM)
	assert.Equal(t, 0, p.wait(t))

	// The next --once run (no follower) keeps the image: used just now.
	out, err := testenv.RunDocker(t, tendCron(t), "--config", cfg, "--once", "--only", "images", "--json")
	require.NoError(t, err, out)
	assert.Regexp(t, `"code": ?"recently_used"`, out)
}
