// Package health proves a container can do its job: the Prober runs checks
// (torch compute, HTTP, SSH, TCP, disk, memory, deleted-but-open files, any
// command, and a GPU check from package health/nvmlgpu) concurrently under
// deadlines and returns a verdict on time, with one line per check that
// fits Docker's 4 KiB health log, and JSON. The Monitor keeps the checks
// running on intervals and answers from the last results, over HTTP
// (/livez, /readyz, /startupz) or in code.
//
// The package imports no NVML and builds with the same API with or without
// cgo: the NVML-backed GPU check lives in health/nvmlgpu (which needs cgo);
// a program built without it stands in an Unavailable check, which fails
// with ErrNoNVMLSupport unless the check is optional. A check that cannot
// run at all (no NVML, no interpreter, no cgroup) reports CannotRun and
// fails, naming why and what to do; a Configured check marked Optional
// skips instead, with SkipReasonOptional.
//
// Every message of a Report passes through RedactSecrets, and unprintable
// bytes are replaced, so a report is safe to print and to keep.
package health
