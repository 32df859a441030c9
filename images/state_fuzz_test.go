package images

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadState: any bytes in the state file load as a state (rebuilt with
// a warning when they are not one), never panic, and a loaded state saves
// and loads back with the same last uses and cursor.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":2,"images":{"sha256:a":{"last_used":"2026-01-01T00:00:00Z","key":"x|1|","detail":{"layers":[{"id":"l","size":1}]}}},"events_seen":"2026-01-02T00:00:00Z"}`))
	f.Add([]byte(`{"version":1,"images":{}}`))
	f.Add([]byte(`{"version":2,"images":{"x":null}}`))
	f.Add([]byte(`{not json`))
	f.Add([]byte{})
	f.Add([]byte("\xff\xfe\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, warn, err := loadState(path)
		if err != nil {
			t.Fatalf("a readable file is never an error: %v", err)
		}
		if st == nil || st.Images == nil || st.dropped == nil {
			t.Fatal("incomplete state")
		}
		for id, e := range st.Images {
			if e == nil {
				t.Fatalf("nil entry %q", id)
			}
		}
		if warn != "" && (len(st.Images) != 0 || !st.EventsSeen.IsZero()) {
			t.Fatal("a rebuilt state is empty")
		}
		if err := writeState(path, st); err != nil {
			t.Fatal(err)
		}
		again, warn2, err := loadState(path)
		if err != nil || warn2 != "" {
			t.Fatalf("a saved state loads back: %v %s", err, warn2)
		}
		if !again.EventsSeen.Equal(st.EventsSeen) || len(again.Images) != len(st.Images) {
			t.Fatalf("round trip changed the state")
		}
		for id, e := range st.Images {
			if !again.Images[id].LastUsed.Equal(e.LastUsed) {
				t.Fatalf("round trip changed %q's last use", id)
			}
		}
	})
}
