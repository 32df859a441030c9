package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/images/imagestest"
)

func TestImagesTask(t *testing.T) {
	state := filepath.Join(t.TempDir(), "images.json")
	cfg, err := config.Parse("t.yaml", []byte(`
images:
  match: ["*pytorch*"]
  keep_latest: 1
  unused_for: 30d
  protect_tags: [stable]
  build_cache_keep: 1GiB
  state: `+state+`
`), config.Options{Env: []string{}})
	require.NoError(t, err)
	tk, ok, err := newImagesTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "images", tk.Name())
	assert.Equal(t, "0 2 * * 1", tk.Schedule())

	now := time.Now()
	img := func(tag string, app int64, pulled time.Time) images.Image {
		return imagestest.Image([]string{tag}, now.AddDate(-1, 0, 0), pulled,
			imagestest.Chain(imagestest.NamedLayer{Name: "cuda", Size: 3 << 30}, imagestest.NamedLayer{Name: tag, Size: app}))
	}
	eng := imagestest.New(imagestest.Set{Images: []images.Image{
		img("pytorch/pytorch:2.5", 1<<30, now.AddDate(0, -3, 0)),
		img("pytorch/pytorch:stable", 1<<30, now.AddDate(0, -3, 0)),
		img("pytorch/pytorch:2.7", 1<<30, now.AddDate(0, -2, 0)),
		img("redis:7", 1<<20, now.AddDate(0, -9, 0)),
	}})
	eng.BuildCache = 3 << 30
	it := tk.(*imagesTask)
	it.newEngine = func(dockerengine.Options) (images.Engine, func(), error) { return eng, func() {}, nil }

	res, err := tk.Run(context.Background(), true)
	require.NoError(t, err)
	plan := res.Report.(*images.Plan)
	require.Len(t, plan.Removals, 1)
	text := strings.Join(res.Lines, "\n")
	assert.Contains(t, text, "images: would remove 1 images, 1.0GiB")
	assert.Contains(t, text, "keep [pytorch/pytorch:stable]: protected tag")
	assert.Contains(t, text, "keep [pytorch/pytorch:2.7]: among the 1 newest by build time of pytorch/pytorch")
	assert.Zero(t, eng.Calls()["Remove"]+eng.Calls()["PruneBuildCache"], "a dry run removes nothing")
	assert.NoFileExists(t, state, "a dry run writes nothing")
	assert.NoFileExists(t, state+".lock")

	res, err = tk.Run(context.Background(), false)
	require.NoError(t, err)
	rep := res.Report.(*images.Report)
	assert.Equal(t, map[string]float64{"images_removed": 1, "bytes_freed": 1 << 30, "errors": 0}, res.Metrics)
	assert.Equal(t, int64(2<<30), rep.BuildCache.Freed)
	assert.Contains(t, strings.Join(res.Lines, "\n"), "removed 1 images, freed 1.0GiB (planned 1.0GiB)")
	assert.FileExists(t, state)

	_, ok, err = newImagesTask(&config.Config{}, nil)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestImagesTaskDaemonDown(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	cfg := &config.Config{Images: &config.Images{Host: sock, Match: []string{"*"}}}
	tk, ok, err := newImagesTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	res, err := tk.Run(context.Background(), true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), sock)
	assert.Equal(t, 1.0, res.Metrics["errors"])
	assert.Contains(t, strings.Join(res.Lines, "\n"), "not reachable")
}

func TestImagesTaskBadPolicy(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Images
		want string
	}{
		{config.Images{KeepLatest: -1}, "keep_latest: -1 is negative"},
		{config.Images{Match: []string{"[x"}}, `bad glob "[x"`},
	} {
		_, _, err := newImagesTask(&config.Config{Images: &tc.cfg}, nil)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := config.Parse("t.yaml", []byte("images:\n  disk_high: 80%\n  disk_low: 90%\n"), config.Options{Env: []string{}})
	assert.ErrorContains(t, err, "disk_low")
}

func TestImagesConfigNewFields(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("images:\n  match: [\"*\"]\n  keep_latest: 1\n  keep_latest_by: used\n  call_timeout: 5s\n  timeout: 10m\n  state: /tmp/x.json\n"), config.Options{Env: []string{}})
	require.NoError(t, err)
	tk, ok, err := newImagesTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	it := tk.(*imagesTask)
	assert.Equal(t, images.KeepLatestByUsed, it.pruner.Policy.KeepLatestBy)
	assert.Equal(t, 5*time.Second, it.engine.CallTimeout)
	assert.Equal(t, 10*time.Minute, it.timeout)
	assert.True(t, it.followEvents, "on by default with a state file")

	cfg, err = config.Parse("t.yaml", []byte("images:\n  match: [\"*\"]\n"), config.Options{Env: []string{}})
	require.NoError(t, err)
	tk, _, err = newImagesTask(cfg, nil)
	require.NoError(t, err)
	assert.False(t, tk.(*imagesTask).followEvents, "no state file, nothing to record in")
	assert.Equal(t, defaultImagesTimeout, tk.(*imagesTask).timeout)

	cfg, err = config.Parse("t.yaml", []byte("images:\n  match: [\"*\"]\n"), config.Options{Env: []string{"TEND_IMAGES_KEEP_LATEST_BY=used", "TEND_IMAGES_CALL_TIMEOUT=3s"}})
	require.NoError(t, err)
	assert.Equal(t, "used", cfg.Images.KeepLatestBy)
	assert.Equal(t, 3*time.Second, cfg.Images.CallTimeout.D())

	for text, want := range map[string]string{
		"images:\n  keep_latest_by: newest\n":    `images.keep_latest_by: "newest" is not "created" or "used"`,
		"images:\n  call_timeout: -1s\n":         "images.call_timeout",
		"images:\n  timeout: -1m\n":              "images.timeout",
		"images:\n  follow_events: true\n":       "images.follow_events: needs images.state",
		"images:\n  keep_latest_by: [created]\n": "images.keep_latest_by",
	} {
		_, err := config.Parse("t.yaml", []byte(text), config.Options{Env: []string{}})
		assert.ErrorContains(t, err, want, text)
	}
}

// The follower starts in scheduler mode only, never in a dry run (which
// writes nothing), and its counts reach the next run's metrics as deltas.
func TestImagesFollowerWiring(t *testing.T) {
	state := filepath.Join(t.TempDir(), "images.json")
	cfg, err := config.Parse("t.yaml", []byte("images:\n  match: [\"*\"]\n  state: "+state+"\n"), config.Options{Env: []string{}})
	require.NoError(t, err)
	tk, _, err := newImagesTask(cfg, nil)
	require.NoError(t, err)
	it := tk.(*imagesTask)
	eng := imagestest.New(imagestest.Set{})
	opened := 0
	it.newEngine = func(dockerengine.Options) (images.Engine, func(), error) { opened++; return eng, func() {}, nil }

	ctx, cancel := context.WithCancel(context.Background())
	startFollowers(ctx, []task{tk}, true)()
	assert.Zero(t, opened, "no follower in a dry run")

	wait := startFollowers(ctx, []task{tk}, false)
	deadline := time.Now().Add(10 * time.Second)
	for eng.Calls()["Events"] == 0 {
		require.True(t, time.Now().Before(deadline), "the follower subscribed")
		time.Sleep(5 * time.Millisecond)
	}
	eng.Emit(images.Event{Time: time.Now(), Type: images.EventTypeContainer, Action: "start", ImageID: "sha256:" + strings.Repeat("a", 64)})
	for {
		it.mu.Lock()
		n := 0
		if it.follower != nil {
			n = it.follower.Stats().Events
		}
		it.mu.Unlock()
		if n == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the follower recorded the event")
		time.Sleep(5 * time.Millisecond)
	}
	res, err := tk.Run(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, 1.0, res.Metrics["image_events"])
	assert.Equal(t, 0.0, res.Metrics["image_events_missed"])
	res, err = tk.Run(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, 0.0, res.Metrics["image_events"], "a delta since the last run")
	cancel()
	wait()
	assert.FileExists(t, state)
}
