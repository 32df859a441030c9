// Package cleanup sweeps cache and temp roots (~/.cache/torch,
// ~/.cache/huggingface, /tmp, .ipynb_checkpoints) by age and size rules with
// safe, fd-relative deletion: the Sweeper.
//
// A Sweeper holds Rules (one root each: age threshold by atime, mtime or
// the newest timestamp, include/exclude globs, Within, a keep_under size
// budget, the Hugging Face hub layout, the entries layout of compile
// caches), protected paths and a per-run cap.
// Plan returns the exact ordered list of deletions with bytes (the dry
// run); Sweep deletes and returns a Report in the same shape, with bytes
// freed (counted and measured as free space), entries skipped by reason
// (open, locked, protected, symlink, mount, cap, ...) and every error with
// its path. The file system sits behind the small FS interface: OS() is the
// real, fd-based one (openat O_NOFOLLOW|O_DIRECTORY, fstatat, unlinkat);
// package cleanuptest has an in-memory double for policy tests.
package cleanup
