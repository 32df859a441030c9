package cleanup_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
)

// A dry run lists exactly what the real run then deletes. Here the file
// system is the in-memory double; leave FS nil for the real, fd-based one.
func ExampleSweeper() {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	fsys := cleanuptest.New()
	fsys.WriteFile("/tmp/old.bin", 4096, now.AddDate(0, 0, -30))
	fsys.WriteFile("/tmp/new.bin", 4096, now.AddDate(0, 0, -1))
	fsys.WriteFile("/tmp/x.lock", 0, now.AddDate(0, 0, -30))
	fsys.WriteFile("/tmp/run/old.out", 10, now.AddDate(0, 0, -30))
	fsys.Mkdir("/tmp/run", now.AddDate(0, 0, -30))
	noProc, _ := os.MkdirTemp("", "proc")
	defer os.Remove(noProc)

	s := &cleanup.Sweeper{
		Rules: []cleanup.Rule{{Root: "/tmp", OlderThan: 7 * 24 * time.Hour, Exclude: []string{"*.lock"}}},
		FS:    fsys, Proc: noProc, Now: func() time.Time { return now },
	}
	plan, _ := s.Sweep(context.Background(), true)
	for _, it := range plan.Items() {
		fmt.Println("would delete", it.Path, it.Bytes, it.Reason)
	}
	rep, _ := s.Sweep(context.Background(), false)
	fmt.Println("deleted", rep.Deleted, "entries,", rep.Bytes, "bytes; skipped", rep.Skipped)
	// Output:
	// would delete /tmp/old.bin 4096 age
	// would delete /tmp/run/old.out 10 age
	// would delete /tmp/run 0 empty
	// deleted 3 entries, 4106 bytes; skipped map[excluded:1]
}

// Usage measures each entry of a root (a Hugging Face repository, a kernel
// directory, a project) in a plan: bytes on disk, files, last use and what
// the plan frees there, largest first. The in-memory double allocates
// 512-byte blocks.
func ExampleSweeper_usage() {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	fsys := cleanuptest.New()
	fsys.WriteFile("/cache/triton/abc123/kernel.cubin", 40000, now.AddDate(0, 0, -30))
	fsys.WriteFile("/cache/triton/abc123/kernel.json", 300, now.AddDate(0, 0, -30))
	fsys.WriteFile("/cache/triton/def456/kernel.cubin", 90000, now.AddDate(0, 0, -1))
	noProc, _ := os.MkdirTemp("", "proc")
	defer os.Remove(noProc)

	s := &cleanup.Sweeper{
		Rules: []cleanup.Rule{{Root: "/cache/triton", OlderThan: 7 * 24 * time.Hour}},
		FS:    fsys, Proc: noProc, Now: func() time.Time { return now }, Usage: true,
	}
	plan, _ := s.Plan(context.Background())
	r := plan.Roots[0]
	fmt.Println(r.Root, r.HeldBytes, "bytes in", r.HeldFiles, "files; the plan frees", r.Bytes)
	for _, e := range r.Entries {
		fmt.Println(e.Name, e.Bytes, e.Files, e.LastUse.Format(time.DateOnly), e.PlannedBytes)
	}
	// Output:
	// /cache/triton 131072 bytes in 3 files; the plan frees 40300
	// def456 90112 1 2025-05-31 0
	// abc123 40960 2 2025-05-02 40300
}
