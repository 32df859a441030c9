// Package dockerengine is the quota.Engine for the Docker Engine API (and
// Podman's Docker-compatible socket), on the official client
// github.com/moby/moby/client. It is the only part of package quota that
// imports that client, so quota's users do not pull it in.
//
// Requests per Running call: one /_ping to negotiate the API version (the
// first time), GET /info (the default runtime), GET /containers/json for
// the running containers, one inspect per container, and one image inspect
// per image whose containers set NVIDIA_VISIBLE_DEVICES without the nvidia
// runtime. Every request has its own deadline (Options.CallTimeout) inside
// the caller's context.
package dockerengine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/tendkit/tend/quota"
	"github.com/tendkit/tend/units"
)

// Options configure an Engine.
type Options struct {
	// Host is the daemon address ("unix:///var/run/docker.sock"); "" means
	// DOCKER_HOST or the default socket.
	Host string
	// CallTimeout bounds each request to the daemon (0 = 10s).
	CallTimeout time.Duration
	// Label, when set ("KEY" or "KEY=VALUE"), lists only the containers
	// that carry it.
	Label string
}

// Engine reads running containers from a Docker daemon. Create it with New
// and Close it when done.
type Engine struct {
	c       *client.Client
	timeout time.Duration
	label   string
}

var _ quota.Engine = (*Engine)(nil)

// New returns an Engine for opts. It does not contact the daemon.
func New(opts Options) (*Engine, error) {
	ops := []client.Opt{client.FromEnv}
	if opts.Host != "" {
		ops = append(ops, client.WithHost(opts.Host))
	}
	c, err := client.New(ops...)
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	t := opts.CallTimeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return &Engine{c: c, timeout: t, label: opts.Label}, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.c.Close() }

// call runs one request under its own deadline.
func call[T any](ctx context.Context, e *Engine, what string, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	v, err := f(ctx)
	if err != nil {
		return v, fmt.Errorf("docker engine %s: %s: %w", e.c.DaemonHost(), what, err)
	}
	return v, nil
}

// Running lists the running containers with their limits, GPUs and log
// configuration. A container removed between the listing and its inspect
// is left out.
func (e *Engine) Running(ctx context.Context) ([]quota.Container, error) {
	info, err := call(ctx, e, "info", func(ctx context.Context) (client.SystemInfoResult, error) {
		return e.c.Info(ctx, client.InfoOptions{})
	})
	if err != nil {
		return nil, err
	}
	list, err := call(ctx, e, "list containers", func(ctx context.Context) (client.ContainerListResult, error) {
		opts := client.ContainerListOptions{}
		if e.label != "" {
			opts.Filters = make(client.Filters).Add("label", e.label)
		}
		return e.c.ContainerList(ctx, opts)
	})
	if err != nil {
		return nil, err
	}
	imageEnv := map[string][]string{}
	out := make([]quota.Container, 0, len(list.Items))
	for _, s := range list.Items {
		res, err := call(ctx, e, "inspect container "+s.ID, func(ctx context.Context) (client.ContainerInspectResult, error) {
			return e.c.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		})
		if err != nil {
			if ctx.Err() == nil && strings.Contains(strings.ToLower(err.Error()), "no such container") {
				continue
			}
			return nil, err
		}
		c, envGPUs := convert(res.Container)
		if envGPUs != "" && !nvidiaRuntime(res.Container, info.Info.DefaultRuntime) {
			// Without the nvidia runtime the variable only counts when the
			// container set it itself (CUDA images set =all for everyone).
			env, ok := imageEnv[res.Container.Image]
			if !ok {
				img, err := call(ctx, e, "inspect image "+res.Container.Image, func(ctx context.Context) (client.ImageInspectResult, error) {
					return e.c.ImageInspect(ctx, res.Container.Image)
				})
				switch {
				case err != nil && (ctx.Err() != nil || !strings.Contains(strings.ToLower(err.Error()), "no such image")):
					// A hung or failing engine fails the audit rather
					// than guessing the container's GPUs.
					return nil, err
				case err == nil && img.Config != nil:
					env = img.Config.Env
				}
				imageEnv[res.Container.Image] = env
			}
			if slices.Contains(env, "NVIDIA_VISIBLE_DEVICES="+envGPUs) {
				envGPUs = ""
			}
		}
		if !c.UsesGPUs() {
			setEnvGPUs(&c, envGPUs)
		}
		out = append(out, c)
	}
	return out, nil
}

func nvidiaRuntime(c container.InspectResponse, def string) bool {
	rt := def
	if c.HostConfig != nil && c.HostConfig.Runtime != "" {
		rt = c.HostConfig.Runtime
	}
	return strings.Contains(rt, "nvidia")
}

// convert maps an inspect response to a quota.Container; envGPUs is the
// container's NVIDIA_VISIBLE_DEVICES ("" when unset, void or none).
func convert(r container.InspectResponse) (quota.Container, string) {
	c := quota.Container{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), Image: r.Image}
	if r.Config != nil {
		c.Image = r.Config.Image
	}
	var envGPUs string
	if r.Config != nil {
		for _, kv := range r.Config.Env {
			if v, ok := strings.CutPrefix(kv, "NVIDIA_VISIBLE_DEVICES="); ok {
				envGPUs = strings.TrimSpace(v)
			}
		}
	}
	if envGPUs == "void" || envGPUs == "none" {
		envGPUs = ""
	}
	h := r.HostConfig
	if h == nil {
		return c, envGPUs
	}
	c.Memory, c.MemorySwap = units.Size(h.Memory), units.Size(h.MemorySwap)
	switch {
	case h.NanoCPUs > 0:
		c.CPUs = quota.NanoCPUs(h.NanoCPUs)
	case h.CPUQuota > 0:
		period := h.CPUPeriod
		if period <= 0 {
			period = 100000
		}
		c.CPUs = quota.NanoCPUs(h.CPUQuota * 1e9 / period)
	}
	c.Cpuset = h.CpusetCpus
	if h.PidsLimit != nil {
		c.PidsLimit = *h.PidsLimit
	}
	c.ShmSize, c.IPC = units.Size(h.ShmSize), string(h.IpcMode)
	c.LogDriver, c.LogOptions = h.LogConfig.Type, h.LogConfig.Config
	for _, d := range h.DeviceRequests {
		if !isGPURequest(d) {
			continue
		}
		switch {
		case d.Count < 0:
			c.AllGPUs = true
		case len(d.DeviceIDs) > 0:
			c.GPUs = append(c.GPUs, d.DeviceIDs...)
		default:
			// --gpus N: the first N GPUs.
			for i := range d.Count {
				c.GPUs = append(c.GPUs, fmt.Sprint(i))
			}
		}
	}
	return c, envGPUs
}

func isGPURequest(d container.DeviceRequest) bool {
	if d.Driver == "nvidia" {
		return true
	}
	for _, and := range d.Capabilities {
		if slices.Contains(and, "gpu") {
			return true
		}
	}
	return false
}

func setEnvGPUs(c *quota.Container, v string) {
	switch v {
	case "":
	case "all":
		c.AllGPUs = true
	default:
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.GPUs = append(c.GPUs, id)
			}
		}
	}
}
