// Package hostinfo reads the limits and GPUs of the host or container it
// runs in: ReadHost for the machine's memory, online CPUs and NVIDIA GPUs,
// ReadLimits for the limits in force for the calling process (cgroup v1,
// v2, hybrid and nested, /dev/shm, ulimits, visible GPUs). Both read
// through a root that tests can move to a fixture tree, and both are
// Linux-only: elsewhere they return an error wrapping errors.ErrUnsupported.
//
// It is package quota's host side without quota's spec code, so that a
// program that only reads limits (tend-health) does not pay for the spec
// reader's dependencies at start-up; quota re-exports these names.
package hostinfo
