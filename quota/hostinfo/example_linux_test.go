package hostinfo_test

import (
	"fmt"

	"github.com/tendkit/tend/quota/hostinfo"
)

// ExampleReadLimits reads a fixture tree: a cgroup v2 container with
// 6 GiB of memory, 1.5 CPUs and a 1 GiB /dev/shm (Linux only; elsewhere
// ReadLimits returns an error wrapping errors.ErrUnsupported).
func ExampleReadLimits() {
	l, err := hostinfo.ReadLimits("testdata/limits/v2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("memory %s, cpus %v, /dev/shm %s, cgroup %s\n", l.Memory.Human(), l.CPUs, l.ShmSize.Human(), l.Cgroup)
	// Output: memory 6.0GiB, cpus 1.5, /dev/shm 1.0GiB, cgroup v2
}
