package images_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
)

// TestFollowerKill9Child is the child of TestFollowerKill9: a follower
// writing the state file every millisecond while events keep coming.
func TestFollowerKill9Child(t *testing.T) {
	state := os.Getenv("TEND_FOLLOWER_KILL_STATE")
	if state == "" {
		t.Skip("child of TestFollowerKill9")
	}
	e := imagestest.New(imagestest.Set{})
	f := &images.Follower{Engine: e, StateFile: state, FlushEvery: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			e.Emit(images.Event{Time: time.Now(), Type: images.EventTypeContainer, Action: "start", ImageID: fmt.Sprintf("sha256:%064x", i%500)})
			time.Sleep(50 * time.Microsecond)
		}
	}()
	f.Run(ctx)
}

// kill -9 at random moments of a follower's state writes: the file is
// always a whole state (old or new), never one the pruner would rebuild,
// and the lock dies with the process.
func TestFollowerKill9(t *testing.T) {
	state := filepath.Join(t.TempDir(), "images.json")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 15 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFollowerKill9Child$")
		cmd.Env = append(os.Environ(), "TEND_FOLLOWER_KILL_STATE="+state)
		require.NoError(t, cmd.Start())
		if i == 0 { // the first child runs until it has written (a slow start under -race)
			deadline := time.Now().Add(20 * time.Second)
			for _, err := os.Stat(state); err != nil && time.Now().Before(deadline); _, err = os.Stat(state) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(time.Duration(100+r.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
		b, err := os.ReadFile(state)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		var st struct {
			Version int                        `json:"version"`
			Images  map[string]json.RawMessage `json:"images"`
		}
		require.NoError(t, json.Unmarshal(b, &st), "kill %d left a torn state file", i)
		require.Equal(t, 2, st.Version)
	}
	require.FileExists(t, state, "the children wrote the state")
	// A pruner after all that: no warning.
	p := &images.ImagePruner{Engine: imagestest.New(imagestest.Set{}), StateFile: state}
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	require.Empty(t, plan.Warnings)
}
