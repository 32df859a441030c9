package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig checks that no input makes the loader panic, and that every
// rejection is an *Error (with a file name) or a list of them.
func FuzzLoadConfig(f *testing.F) {
	for _, name := range []string{"full.yaml", "bad.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(DefaultYAML())
	f.Add([]byte("sweep:\n  rules:\n    - path: ~\n"))
	f.Add([]byte("images: {disk_high: 10%, disk_low: 90%}"))
	f.Add([]byte("rotate: [1, 2]"))
	f.Add([]byte("jobs:\n  - {name: a, schedule: '@every 1m', command: [x, y], env: {A: b}, overlap: queue, timeout: 1m}\n  - {name: b, schedule: '0 * * * *', command: 'echo hi'}\n"))
	f.Add([]byte("jobs: {name: a}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, Options{Env: []string{"TEND_SWEEP_OLDER_THAN=1d"}, Home: "/h"})
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("error is not a config error: %T %v", err, err)
		}
	})
}
