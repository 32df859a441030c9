package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/internal/atomicfile"
)

// stateVersion is the state file's format version.
const stateVersion = 2

// state is what the pruner remembers between runs: when each image was last
// seen in use (a container outlives nothing, so this is the only memory of
// use once a container is removed), the image details already fetched, and
// the time of the last engine event seen, from which the next run (or a
// reconnecting Follower) replays the events.
//
// Several writers share the file (a run's Apply, a Follower): each save
// takes an exclusive lock on "<file>.lock", reads the file again and merges
// (newest last use, newest event cursor), then replaces it atomically.
type state struct {
	Version int                    `json:"version"`
	Images  map[string]*stateImage `json:"images"`
	// EventsSeen is the time of the last engine event recorded.
	EventsSeen time.Time `json:"events_seen,omitzero"`

	dropped map[string]bool // entries removed here, not to merge back
}

type stateImage struct {
	LastUsed time.Time `json:"last_used,omitzero"`
	// Key is what the detail was fetched under (tags, build time, parent,
	// last tag time when the listing has it): a re-tag or a pull changes
	// it, and a new image ID is a new entry.
	Key    string  `json:"key,omitempty"`
	Detail *Detail `json:"detail,omitempty"`
}

func newState() *state {
	return &state{Version: stateVersion, Images: map[string]*stateImage{}, dropped: map[string]bool{}}
}

// loadState reads the state file. A missing file (or no path) is an empty
// state; a corrupt one, or one of another version, is an empty state too,
// returned with a warning naming the file (the state is a cache and a
// memory of use: losing it costs inspections and forgets uses older than
// the containers and events still there, it never makes an image in use
// removable). A file that cannot be read is an error.
func loadState(path string) (st *state, warning string, err error) {
	st = newState()
	if path == "" {
		return st, "", nil
	}
	b, err := readRegular(path, maxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return st, "", nil
	}
	if errors.Is(err, errTooBig) {
		return newState(), fmt.Sprintf("state %s is over %d MiB: rebuilt from the engine", path, maxStateSize>>20), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return newState(), fmt.Sprintf("state %s is corrupt (%v): rebuilt from the engine", path, err), nil
	}
	if st.Version != stateVersion {
		v := st.Version
		return newState(), fmt.Sprintf("state %s has version %d, want %d: rebuilt from the engine", path, v, stateVersion), nil
	}
	if st.Images == nil {
		st.Images = map[string]*stateImage{}
	}
	for id, e := range st.Images {
		if e == nil {
			delete(st.Images, id)
		}
	}
	st.dropped = map[string]bool{}
	return st, "", nil
}

// maxStateSize bounds what is read of a state file (a state for 100,000
// images is about 40 MiB).
const maxStateSize = 256 << 20

var errTooBig = errors.New("too big")

// readRegular reads a regular file of at most max bytes; a FIFO, a device
// (/dev/zero) or a directory is an error, and opening never blocks.
func readRegular(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooBig
	}
	return b, nil
}

// entry returns the image's state entry, creating it.
func (st *state) entry(id string) *stateImage {
	e := st.Images[id]
	if e == nil {
		e = &stateImage{}
		st.Images[id] = e
		delete(st.dropped, id)
	}
	return e
}

// drop forgets an image (gone from the engine).
func (st *state) drop(id string) {
	delete(st.Images, id)
	st.dropped[id] = true
}

// use records a use of id at t.
func (st *state) use(id string, t time.Time) {
	if e := st.entry(id); t.After(e.LastUsed) {
		e.LastUsed = t
	}
}

// detailKey is what a cached detail is valid for: everything the listing
// shows that a tag, a pull or a rebuild changes.
func detailKey(im Image) string {
	tags := slices.Clone(im.RepoTags)
	slices.Sort(tags)
	parts := []string{strings.Join(tags, ","), strconv.FormatInt(im.Created.UnixNano(), 10), im.ParentID}
	if !im.LastTagTime.IsZero() {
		parts = append(parts, strconv.FormatInt(im.LastTagTime.UnixNano(), 10))
	}
	return strings.Join(parts, "|")
}

// cachedDetail returns a detail fetched under the same key.
func (st *state) cachedDetail(im Image) (Detail, bool) {
	e := st.Images[im.ID]
	if e == nil || e.Detail == nil || e.Key != detailKey(im) {
		return Detail{}, false
	}
	return *e.Detail, true
}

// save merges st into the file under its lock and replaces it atomically
// (temporary file in the same directory, fsync, rename, fsync of the
// directory).
func (st *state) save(path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	return withStateLock(path, func() error {
		disk, warn, err := loadState(path)
		if err != nil {
			return err
		}
		if warn != "" {
			log.Warn(warn)
		}
		st.merge(disk)
		return writeState(path, st)
	})
}

// merge takes into st what another writer recorded since st was loaded:
// newer uses, images st does not know (unless st dropped them), a newer
// event cursor.
func (st *state) merge(other *state) {
	for id, o := range other.Images {
		if st.dropped[id] {
			continue
		}
		e, ok := st.Images[id]
		if !ok {
			st.Images[id] = o
			continue
		}
		if o.LastUsed.After(e.LastUsed) {
			e.LastUsed = o.LastUsed
		}
		if e.Detail == nil && o.Detail != nil {
			e.Key, e.Detail = o.Key, o.Detail
		}
	}
	if other.EventsSeen.After(st.EventsSeen) {
		st.EventsSeen = other.EventsSeen
	}
}

// withStateLock runs fn holding an exclusive flock on path+".lock".
func withStateLock(path string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("lock state %s: %w", path, err)
	}
	defer lf.Close()
	for {
		err = unix.Flock(int(lf.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("lock state %s: %w", path, err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN)
	return fn()
}

// writeState replaces path with st atomically (internal/atomicfile: temp
// file in the same directory, fsync, rename, directory fsync).
func writeState(path string, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}
