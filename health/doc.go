// Package health proves a container can do its job: the Prober runs checks
// (GPU through NVML, torch compute, HTTP, SSH, TCP, disk, memory,
// deleted-but-open files, any command) concurrently under deadlines and
// returns a verdict on time, with one line per check that fits Docker's
// 4 KiB health log, and JSON.
//
// The GPU check needs cgo (go-nvml loads libnvidia-ml with dlopen). Built
// with CGO_ENABLED=0 or -tags nonvml, NewGPU returns a check that skips, and
// the rest of the package works unchanged in a static binary.
package health
