package quota_test

import (
	"fmt"

	"github.com/tendkit/tend/quota"
)

// A spec for two users on a 2-GPU host: counts become device ids, `auto`
// becomes a host port, and the docker command line quotes the GPU list.
func ExampleSpec_Plan() {
	spec, err := quota.ParseSpec("spec.yaml", []byte(`
host: {memory: 64GiB, cpus: 16, gpus: ["0", "1"]}
defaults: {image: "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", shm_size: 4GiB, port: auto}
users:
  - {name: alice, gpus: 1, memory: 24GiB, memory_swap: 24GiB, cpus: 6}
  - {name: bob, gpus: 1, memory: 24g, memory_swap: 24g, cpus: 4.5}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := spec.Plan(quota.Host{}, quota.PlanOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, q := range plan.Users {
		args, _ := quota.DockerArgs(q)
		fmt.Println(quota.ShellLine(append([]string{"docker"}, args...)...))
	}
	// Output:
	// docker run --detach --name alice --memory 24g --memory-swap 24g --cpus 6 --gpus '"device=0"' --shm-size 4g --log-driver json-file --log-opt max-file=5 --log-opt max-size=10m --publish 8888:8888 pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime
	// docker run --detach --name bob --memory 24g --memory-swap 24g --cpus 4.5 --gpus '"device=1"' --shm-size 4g --log-driver json-file --log-opt max-file=5 --log-opt max-size=10m --publish 8889:8888 pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime
}

// Validate returns every problem at once, each naming the user and field.
func ExampleValidate() {
	host := quota.Host{Memory: 16 << 30, CPUs: []int{0, 1, 2, 3}, GPUs: []quota.GPU{{ID: "0"}}}
	_, err := quota.Validate(host, []quota.QuotaSpec{
		{Name: "alice", Image: "img", Memory: 8 << 30, MemorySwap: 8 << 30, GPUs: quota.GPUs{IDs: []string{"0"}}},
		{Name: "bob", Image: "img", Memory: 8 << 30, MemorySwap: 8 << 30, GPUs: quota.GPUs{IDs: []string{"0"}}, CPUs: 6e9},
	}, quota.ValidateOptions{})
	for _, p := range quota.Problems(err) {
		fmt.Println(p)
	}
	// Output:
	// user bob: field cpus: 6 is out of range: docker allows 0.01 to 4.00, as the host has 4 CPUs
	// user bob: field gpus: GPU 0 is also alice's: GPU given to more than one user
	// field headroom: the users' memory limits sum to 16.0GiB, over 90% of the host's 16.0GiB (14.4GiB): memory over the host's headroom
}
