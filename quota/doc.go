// Package quota describes a container's share of a host once (QuotaSpec),
// validates it against the host and the other users, and renders docker
// arguments, compose files and Kubernetes resources.
//
// The usual flow is ParseSpec (or LoadSpec) for a spec file, Spec.Plan to
// merge the defaults, allocate GPUs, host ports and CPU sets (Allocate) and
// check everything against the host (Validate), then one of the renderers:
// DockerArgs and ShellLine, Compose, or Kubernetes. ReadHost reads the host
// from this machine without cgo; ReadLimits reads, from inside a container,
// the limits actually in force (cgroup v1, v2, hybrid and nested, /dev/shm,
// visible GPUs) through a root that tests can move to a fixture tree.
// Both live in package quota/hostinfo, which programs that only read the
// host (tend-health) import instead, without the spec code.
package quota
