package rotate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tendkit/tend/rotate"
)

// A Rotator keeping two gzip backups of a log that passed 1 KiB.
func ExampleRotator() {
	dir, _ := os.MkdirTemp("", "rotate-example")
	defer os.RemoveAll(dir)
	log := filepath.Join(dir, "app.log")
	os.WriteFile(log, make([]byte, 2048), 0o644)

	r := &rotate.Rotator{
		Rules: []rotate.Rule{{Path: log, Size: 1024, Keep: 2, Compress: rotate.CompressionGzip, Create: &rotate.Create{UID: -1, GID: -1}}},
		State: filepath.Join(dir, "rotate.json"),
	}
	rep, err := r.Rotate(context.Background())
	if err != nil {
		fmt.Println(err)
	}
	for _, f := range rep.Files {
		fmt.Println(filepath.Base(f.Path), f.Reason)
		for _, a := range f.Actions {
			if a.To != "" {
				fmt.Println(" ", a.Op, filepath.Base(a.Path), "->", filepath.Base(a.To))
			} else {
				fmt.Println(" ", a.Op, filepath.Base(a.Path))
			}
		}
	}
	// Output:
	// app.log size 2.0KiB >= 1.0KiB
	//   rename app.log -> app.log.1
	//   create app.log
	//   compress app.log.1 -> app.log.1.gz
}

// A Writer rotating at 1 MiB, keeping 5 zstd backups.
func ExampleWriter() {
	dir, _ := os.MkdirTemp("", "writer-example")
	defer os.RemoveAll(dir)
	w := &rotate.Writer{Filename: filepath.Join(dir, "train.log"), MaxSize: 1 << 20, MaxBackups: 5, Compress: rotate.CompressionZstd}
	fmt.Fprintln(w, "epoch 1 loss 0.42")
	w.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "train.log"))
	fmt.Print(string(b))
	// Output: epoch 1 loss 0.42
}
