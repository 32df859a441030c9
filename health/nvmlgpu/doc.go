// Package nvmlgpu is the GPU check of package health, backed by NVML
// (github.com/NVIDIA/go-nvml, which loads libnvidia-ml with dlopen and so
// needs cgo). Package health itself imports no NVML and builds the same with
// or without cgo; a program built with cgo wires this check in, one built
// without it reports a configured GPU check as unable to run (see
// health.Unavailable and health.ErrNoNVMLSupport).
//
// Built with CGO_ENABLED=0 or -tags nonvml this package is empty.
package nvmlgpu
