package procfs

import (
	"context"
	"io"
	"os"
	"strconv"
)

// FD is one open descriptor found by a walk. PID and FD come with it; the
// methods read more on demand, and are valid only during the callback that
// received it (they use the walk's open fd directory).
type FD struct {
	PID int
	FD  int
	// Name is the directory entry (FD in decimal).
	Name string
	proc Proc
	dir  *os.File // the process's fd directory, open during the callback
}

// FileStat is what stat(2) says about the file a descriptor has open.
type FileStat struct {
	Dev  uint64 // st_dev, comparable to syscall.Stat_t.Dev
	Ino  uint64
	Mode uint32 // st_mode: type and permission bits
	Size int64
}

// IsRegular reports whether the open file is a regular file.
func (s FileStat) IsRegular() bool { return s.Mode&0o170000 == 0o100000 }

// Info reads the descriptor's /proc/PID/fdinfo/FD.
func (d FD) Info() (FDInfo, error) {
	f, err := os.Open(d.proc.Path("fdinfo", d.Name))
	if err != nil {
		return FDInfo{}, err
	}
	defer f.Close()
	return ParseFDInfo(f)
}

// WalkFDs calls fn for each of the process's open descriptors, holding a
// chunk of names at a time. fn returning SkipProc ends this process's walk
// without an error; any other error from fn is returned as is. An error
// opening the process's fd directory (it exited, or is not ours to read)
// is returned for the caller to judge; FS.WalkFDs passes over those.
func (p Proc) WalkFDs(ctx context.Context, fn func(FD) error) error {
	d, err := os.Open(p.Path("fd"))
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, rerr := d.Readdirnames(readdirChunk)
		for _, name := range names {
			n, err := strconv.Atoi(name)
			if err != nil || n < 0 {
				continue
			}
			if err := fn(FD{PID: p.PID, FD: n, Name: name, proc: p, dir: d}); err != nil {
				if err == SkipProc {
					return nil
				}
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// WalkFDs walks the open descriptors of every process (one walk of
// /proc/*/fd), calling fn for each. Processes that exit meanwhile or
// that may not be inspected are passed over; fn returning SkipProc moves
// on to the next process; another error from fn, ctx's error or the
// error of listing the mount point stops the walk and is returned.
func (f FS) WalkFDs(ctx context.Context, fn func(FD) error) error {
	var fnErr error
	return f.WalkProcs(ctx, func(p Proc) error {
		err := p.WalkFDs(ctx, func(d FD) error {
			err := fn(d)
			if err != nil && err != SkipProc {
				fnErr = err
			}
			return err
		})
		switch {
		case err == nil:
			return nil
		case err == fnErr || err == ctx.Err():
			return err
		case gone(err):
			return nil
		}
		return err
	})
}
