package rotate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/internal/atomicfile"
)

// stateVersion is written in every state file.
const stateVersion = 1

// stateFile is the content of the state file: when each log was last rotated.
type stateFile struct {
	Version int                   `json:"version"`
	Files   map[string]fileRecord `json:"files"`
}

// fileRecord is what the state file records for one live log.
type fileRecord struct {
	LastRotated time.Time `json:"last_rotated"`
}

// parseState decodes a state file. It never fails: a corrupt file yields
// an empty state and an error describing the damage, so rotation goes on.
func parseState(b []byte) (stateFile, error) {
	st := stateFile{Version: stateVersion, Files: map[string]fileRecord{}}
	if len(b) == 0 {
		return st, nil
	}
	var got stateFile
	if err := json.Unmarshal(b, &got); err != nil {
		return st, fmt.Errorf("corrupt: %w", err)
	}
	if got.Version != stateVersion {
		return st, fmt.Errorf("unknown version %d (want %d)", got.Version, stateVersion)
	}
	for k, v := range got.Files {
		if k != "" && !v.LastRotated.IsZero() {
			st.Files[decodePath(k)] = v
		}
	}
	return st, nil
}

// pathB64 starts a path that JSON could not carry as it is (bytes that are
// not UTF-8, which encoding/json replaces): base64 of its bytes follows. A
// NUL never occurs in a path, so no real path reads as encoded.
const pathB64 = "\x00base64:"

// encodePath returns p as the state file and the journal write it.
func encodePath(p string) string {
	if utf8.ValidString(p) && !strings.HasPrefix(p, pathB64) {
		return p
	}
	return pathB64 + base64.StdEncoding.EncodeToString([]byte(p))
}

// decodePath reverses encodePath.
func decodePath(s string) string {
	if rest, ok := strings.CutPrefix(s, pathB64); ok {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return string(b)
		}
	}
	return s
}

// stateStore reads and writes the state file under an exclusive lock held
// for the whole run (path+".lock"), so two runs sharing a state file never
// work at the same time.
type stateStore struct {
	path  string
	lock  *os.File
	state stateFile
	dirty bool
}

// openState locks and loads the state at path ("" = in memory only). It
// waits for another run's lock until ctx is done.
func openState(ctx context.Context, path string, log *slog.Logger) (*stateStore, error) {
	s := &stateStore{path: path, state: stateFile{Version: stateVersion, Files: map[string]fileRecord{}}}
	if path == "" {
		return s, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state %s: lock: %w", path, err)
	}
	for {
		err = unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			break
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, fmt.Errorf("state %s: waiting for another run's lock: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("state %s: lock: %w", path, err)
	}
	s.lock = lf
	// Temp files of a run killed mid-write are garbage.
	if old, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tend-tmp*")); len(old) > 0 {
		for _, o := range old {
			_ = os.Remove(o)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("state file unreadable, rebuilding it", "path", path, "err", err)
	}
	st, perr := parseState(b)
	if perr != nil {
		log.Warn("state file damaged, rebuilding it from the backups on disk", "path", path, "err", perr)
	}
	s.state = st
	return s, nil
}

// lastRotated returns when path was last rotated, and whether it is known.
func (s *stateStore) lastRotated(path string) (time.Time, bool) {
	fs, ok := s.state.Files[path]
	return fs.LastRotated, ok
}

// put records a rotation (or a first sighting); save writes it.
func (s *stateStore) put(path string, t time.Time) {
	s.state.Files[path] = fileRecord{LastRotated: t.UTC().Truncate(time.Second)}
	s.dirty = true
}

// save writes the state atomically: temp file, fsync, rename, fsync dir.
func (s *stateStore) save() error {
	if s.path == "" || !s.dirty {
		return nil
	}
	out := stateFile{Version: s.state.Version, Files: make(map[string]fileRecord, len(s.state.Files))}
	for k, v := range s.state.Files {
		out.Files[encodePath(k)] = v
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("state %s: %w", s.path, err)
	}
	s.dirty = false
	return nil
}

// close releases the lock.
func (s *stateStore) close() {
	if s.lock != nil {
		s.lock.Close()
	}
}
