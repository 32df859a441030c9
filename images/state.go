package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tendkit/tend/internal/atomicfile"
)

// stateVersion is the state file's format version.
const stateVersion = 1

// state is what the pruner remembers between runs: when each image was last
// seen in use (a container outlives nothing, so this is the only memory of
// use once a container is removed) and the image details already fetched
// (layers never change for an image ID), so that a steady-state run needs
// only the two listing calls.
type state struct {
	Version int                    `json:"version"`
	Images  map[string]*stateImage `json:"images"`
}

type stateImage struct {
	LastUsed time.Time `json:"last_used,omitzero"`
	// Tags are the tags the detail was fetched under: a re-tag refreshes it
	// (its LastTagTime changed).
	Tags   []string `json:"tags,omitempty"`
	Detail *Detail  `json:"detail,omitempty"`
}

func newState() *state { return &state{Version: stateVersion, Images: map[string]*stateImage{}} }

// loadState reads the state file; a missing file (or no path) is an empty
// state, a corrupt one an error naming the file.
func loadState(path string) (*state, error) {
	st := newState()
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("read state %s: %w (remove the file to start afresh)", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("read state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	if st.Images == nil {
		st.Images = map[string]*stateImage{}
	}
	return st, nil
}

// entry returns the image's state entry, creating it.
func (st *state) entry(id string) *stateImage {
	e := st.Images[id]
	if e == nil {
		e = &stateImage{}
		st.Images[id] = e
	}
	return e
}

// cachedDetail returns a detail fetched under the same tags.
func (st *state) cachedDetail(im Image) (Detail, bool) {
	e := st.Images[im.ID]
	if e == nil || e.Detail == nil || !slices.Equal(e.Tags, im.RepoTags) {
		return Detail{}, false
	}
	return *e.Detail, true
}

// save writes the state atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
func (st *state) save(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}
