package dockerengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/internal/testenv"
)

// proxy is a unix socket in front of the Docker socket that the test can
// cut (closing every connection) and take down (refusing new ones), as an
// engine restart does.
type proxy struct {
	path, target string
	l            net.Listener
	mu           sync.Mutex
	conns        []net.Conn
	down         bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{path: filepath.Join(t.TempDir(), "docker.sock"), target: target}
	l, err := net.Listen("unix", p.path)
	require.NoError(t, err)
	p.l = l
	go p.serve()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *proxy) host() string { return "unix://" + p.path }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("unix", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

func dockerSocket(t *testing.T) string {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	if !strings.HasPrefix(host, "unix://") {
		t.Skipf("DOCKER_HOST %s is not a unix socket", host)
	}
	return strings.TrimPrefix(host, "unix://")
}

// readState returns the last use of each image in the pruner's state file.
func readState(t *testing.T, path string) map[string]time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var st struct {
		Images map[string]struct {
			LastUsed time.Time `json:"last_used"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal(b, &st), string(b))
	out := map[string]time.Time{}
	for id, e := range st.Images {
		out[id] = e.LastUsed
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On the real engine, through a socket the test cuts: `docker run --rm`
// jobs count as uses in the state file, one run while the follower is
// connected, one while the engine is unreachable (caught up from the last
// event seen after reconnecting); and after more events than the engine
// keeps, the follower says it may have missed some.
func TestFollowerRealEngine(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("follow")
	first := build(t, ctx, d, 10<<10, 51, repo+":first")
	second := build(t, ctx, d, 10<<10, 52, repo+":second")
	px := newProxy(t, dockerSocket(t))
	e, err := dockerengine.New(dockerengine.Options{Host: px.host(), CallTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer e.Close()
	state := filepath.Join(t.TempDir(), "images.json")
	var logs testenv.Buffer
	f := &images.Follower{Engine: e, StateFile: state, FlushEvery: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, f.Run(fctx)) })
	defer func() { stop(); wg.Wait() }()
	eventually(t, "the first subscription", func() bool { return f.Stats().Connects == 1 })
	time.Sleep(200 * time.Millisecond) // the subscription reaches the daemon

	ranAt := time.Now()
	_, err = d.Exec(ctx, "run", "--rm", "--label", d.Label(), repo+":first", "/bin/busybox", "true")
	require.NoError(t, err)
	eventually(t, "the run --rm recorded", func() bool { return !readState(t, state)[first].Before(ranAt.Add(-time.Second)) })

	// The engine goes away; a job runs meanwhile; it comes back.
	px.setDown(true)
	eventually(t, "the stream lost", func() bool { return strings.Contains(logs.String(), "stream lost") })
	awayAt := time.Now()
	_, err = d.Exec(ctx, "run", "--rm", "--label", d.Label(), second, "/bin/busybox", "true")
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	px.setDown(false)
	eventually(t, "the missed run caught up", func() bool { return !readState(t, state)[second].Before(awayAt.Add(-time.Second)) })
	assert.Zero(t, f.Stats().Missed, "a few events: nothing missed")

	// Away again while more events than the daemon keeps happen.
	px.setDown(true)
	time.Sleep(300 * time.Millisecond)
	api := newEngineClient(t)
	for i := range dockerengine.EventBuffer/2 + 10 {
		tag := repo + ":flood"
		_, err := api.tag(ctx, first, tag)
		require.NoError(t, err, "tag %d", i)
		require.NoError(t, api.untag(ctx, tag))
	}
	px.setDown(false)
	eventually(t, "the possible miss reported", func() bool { return f.Stats().Missed >= 1 })
	assert.Contains(t, logs.String(), "may have been missed")
	assert.GreaterOrEqual(t, f.Stats().Connects, 3)
}

// A re-tag with the same tag changes nothing in the listing; with a warm
// state file the image's last use still moves, from the engine's events.
// load and import events count the same way (a pull needs a registry,
// which this machine has not: it is the same event path, "pull").
func TestRetagMovesLastUseRealEngine(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("retag")
	id := build(t, ctx, d, 10<<10, 61, repo+":2.7")
	state := filepath.Join(t.TempDir(), "images.json")
	p := &images.ImagePruner{Engine: newEngine(t), StateFile: state,
		Policy: images.Policy{Match: []string{"nothing"}}}
	_, err := p.Prune(ctx) // warms the state: the image's detail, the event cursor
	require.NoError(t, err)
	time.Sleep(3 * time.Second)
	p.Policy = images.Policy{Match: []string{repo}, Labels: []string{d.Label()}, UnusedFor: 2 * time.Second}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	require.Len(t, plan.Removals, 1, "unused for 3s")
	assert.Zero(t, plan.Calls.Detail, "the state is warm")

	_, err = d.Exec(ctx, "tag", id, repo+":2.7") // same tag, same image
	require.NoError(t, err)
	plan, err = p.Plan(ctx)
	require.NoError(t, err)
	assert.Empty(t, plan.Removals, "re-tagged just now")
	require.Len(t, plan.Kept, 1)
	assert.Equal(t, images.KeepReasonRecentlyUsed, plan.Kept[0].Code)
	require.NotNil(t, plan.Events)
	assert.GreaterOrEqual(t, plan.Events.Used, 1)

	// docker save | docker load: a "load" event.
	_, err = p.Prune(ctx) // records the re-tag
	require.NoError(t, err)
	time.Sleep(3 * time.Second)
	plan, err = p.Plan(ctx)
	require.NoError(t, err)
	require.Len(t, plan.Removals, 1)
	tar := filepath.Join(t.TempDir(), "img.tar")
	_, err = d.Exec(ctx, "save", "-o", tar, repo+":2.7")
	require.NoError(t, err)
	_, err = d.Exec(ctx, "load", "-q", "-i", tar)
	require.NoError(t, err)
	plan, err = p.Plan(ctx)
	require.NoError(t, err)
	assert.Empty(t, plan.Removals, "loaded just now")
}
