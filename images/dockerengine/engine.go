// Package dockerengine is the images.Engine for the Docker Engine API (and
// Podman's Docker-compatible socket), on the official client
// github.com/moby/moby/client. It is the only package of tend that imports
// that client.
//
// The API version is negotiated on the first request (Docker 20.10, API
// 1.41, through current); DOCKER_HOST, DOCKER_API_VERSION and the TLS
// variables are honoured unless Options.Host is set.
//
// Every request is bounded by Options.CallTimeout (DefaultCallTimeout when
// zero), and every error names the daemon and the request.
//
// Requests per call: Images 1 (GET /images/json?all=1), Containers 1 (GET
// /containers/json?all=1), ImageDetail 1 or 2 (inspect for RootFS.Layers and
// Metadata.LastTagTime, plus history for the per-layer sizes when the image
// has several layers that may be shared: the listing carries neither),
// Remove 1 per tag, PruneBuildCache 1, Usage 1 (GET /info for the data root,
// then statfs locally), Events 1 (GET /events, plus one image inspect per
// image name a container event names, cached until an image event). The
// client adds one /_ping to negotiate the version.
package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/images"
)

// DefaultCallTimeout is how long one engine request may take when
// Options.CallTimeout is zero.
const DefaultCallTimeout = time.Minute

// Options configure an Engine.
type Options struct {
	// Host is the daemon address ("unix:///var/run/docker.sock",
	// "tcp://10.0.0.5:2376"); "" means DOCKER_HOST or the default socket.
	Host string
	// DiskPath is a path on the file system that holds the images, for
	// Usage; "" means the daemon's data root (local daemons only).
	DiskPath string
	// CallTimeout bounds each request (an image removal included; the
	// event stream only until the engine answers): an engine that accepts
	// the connection and never answers fails the call with an error naming
	// the daemon and the request. 0 means DefaultCallTimeout.
	CallTimeout time.Duration
}

// Engine talks to a Docker (or Podman) daemon. Create it with New and Close
// it when done. It is safe for concurrent use.
type Engine struct {
	c        *client.Client
	diskPath string
	timeout  time.Duration
	requests atomic.Int64

	mu   sync.Mutex
	kind string // "docker" or "podman", once known
}

var (
	_ images.Engine      = (*Engine)(nil)
	_ images.EventSource = (*Engine)(nil)
)

// New returns an Engine for opts. It does not contact the daemon.
func New(opts Options) (*Engine, error) {
	if opts.CallTimeout < 0 {
		return nil, fmt.Errorf("docker engine: call timeout %v is negative", opts.CallTimeout)
	}
	e := &Engine{diskPath: opts.DiskPath, timeout: opts.CallTimeout}
	if e.timeout == 0 {
		e.timeout = DefaultCallTimeout
	}
	ops := []client.Opt{client.FromEnv, client.WithHTTPRequestHook(func(*http.Request) error {
		e.requests.Add(1)
		return nil
	})}
	if opts.Host != "" {
		ops = append(ops, client.WithHost(opts.Host))
	}
	c, err := client.New(ops...)
	if err != nil {
		host := opts.Host
		if host == "" {
			host = "DOCKER_HOST"
		}
		return nil, fmt.Errorf("docker engine %s: %w", host, err)
	}
	e.c = c
	return e, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.c.Close() }

// Host returns the daemon address in use.
func (e *Engine) Host() string { return e.c.DaemonHost() }

// Requests returns the number of HTTP requests made so far (including the
// version negotiation).
func (e *Engine) Requests() int64 { return e.requests.Load() }

// call bounds one request by the call timeout.
func (e *Engine) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}

// wrap turns client errors into the images sentinels, names the daemon when
// it cannot be reached, and names the daemon and the request when the call
// timeout ran out (while the caller's context had not).
func (e *Engine) wrap(parent context.Context, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil:
		return fmt.Errorf("docker engine at %s: %s did not answer within %v (call timeout): %w", e.Host(), what, e.timeout, err)
	case parent.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return fmt.Errorf("docker engine at %s: %s: %w", e.Host(), what, err)
	case errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "permission denied"):
		return fmt.Errorf("docker engine at %s: permission denied (run as root or as a member of the socket's group): %s: %w", e.Host(), what, err)
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("docker engine at %s is not reachable (is the daemon running? set images.host or DOCKER_HOST): %s: %w", e.Host(), what, err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", images.ErrNotFound, err)
	case cerrdefs.IsConflict(err):
		return fmt.Errorf("%w: %w", images.ErrConflict, err)
	}
	return fmt.Errorf("docker engine at %s: %s: %w", e.Host(), what, err)
}

// Images implements images.Engine with one request (all=1: intermediate
// images too, with their parents).
func (e *Engine) Images(ctx context.Context) ([]images.Image, error) {
	cctx, cancel := e.call(ctx)
	defer cancel()
	res, err := e.c.ImageList(cctx, client.ImageListOptions{All: true, SharedSize: true})
	if err != nil {
		return nil, e.wrap(ctx, "GET /images/json (list images)", err)
	}
	// Below API 1.42 SharedSize is not computed: Docker says -1, Podman
	// (which reports 1.41) says 0, which would read as "shares nothing".
	oldAPI := apiBelow(e.c.ClientVersion(), 42)
	out := make([]images.Image, 0, len(res.Items))
	for _, s := range res.Items {
		if oldAPI {
			s.SharedSize = -1
		}
		var tags []string
		for _, t := range s.RepoTags {
			if t != "<none>:<none>" {
				tags = append(tags, t)
			}
		}
		parent := s.ParentID
		if parent != "" && !strings.Contains(parent, ":") {
			parent = "sha256:" + parent // Podman leaves the algorithm out
		}
		out = append(out, images.Image{ID: s.ID, RepoTags: tags, Labels: s.Labels, ParentID: parent,
			Created: time.Unix(s.Created, 0).UTC(), Size: s.Size, SharedSize: s.SharedSize})
	}
	return out, nil
}

// apiBelow reports whether API version v ("1.41") is below 1.minor; an
// unknown version counts as below.
func apiBelow(v string, minor int) bool {
	major, rest, ok := strings.Cut(v, ".")
	m, err := strconv.Atoi(rest)
	return !ok || major != "1" || err != nil || m < minor
}

// Containers implements images.Engine with one request (the ancestor filter
// also counts containers of images built on imageID).
func (e *Engine) Containers(ctx context.Context, imageID string) ([]images.Container, error) {
	opts := client.ContainerListOptions{All: true}
	if imageID != "" {
		opts.Filters = client.Filters{}.Add("ancestor", imageID)
	}
	cctx, cancel := e.call(ctx)
	defer cancel()
	res, err := e.c.ContainerList(cctx, opts)
	if err != nil {
		return nil, e.wrap(ctx, "GET /containers/json (list containers)", err)
	}
	out := make([]images.Container, 0, len(res.Items))
	for _, s := range res.Items {
		name := ""
		if len(s.Names) > 0 {
			name = strings.TrimPrefix(s.Names[0], "/")
		}
		out = append(out, images.Container{ID: s.ID, Name: name, ImageID: s.ImageID,
			Created: time.Unix(s.Created, 0).UTC(), Running: s.State == "running" || s.State == "paused" || s.State == "restarting"})
	}
	return out, nil
}

// ImageDetail implements images.Engine: an inspect, and a history when the
// per-layer sizes matter (several layers, some possibly shared).
func (e *Engine) ImageDetail(ctx context.Context, img images.Image) (images.Detail, error) {
	cctx, cancel := e.call(ctx)
	defer cancel()
	ins, err := e.c.ImageInspect(cctx, img.ID)
	if err != nil {
		return images.Detail{}, e.wrap(ctx, "GET /images/"+img.ID+"/json (inspect image)", err)
	}
	d := images.Detail{LastTagTime: ins.Metadata.LastTagTime}
	diffs := ins.RootFS.Layers
	switch {
	case img.SharedSize == 0 || len(diffs) == 0:
		return d, nil // all of Size is the image's own
	case len(diffs) == 1:
		d.Layers = []images.Layer{{ID: diffs[0], Size: ins.Size}}
		return d, nil
	}
	hist, err := e.c.ImageHistory(cctx, img.ID)
	if err != nil {
		return d, e.wrap(ctx, "GET /images/"+img.ID+"/history (image history)", err)
	}
	entries := make([]historyEntry, len(hist.Items))
	for i, h := range hist.Items {
		entries[len(entries)-1-i] = historyEntry{CreatedBy: h.CreatedBy, Size: h.Size} // oldest first
	}
	sizes, err := layerSizes(len(diffs), entries)
	if err != nil {
		return d, fmt.Errorf("image %s history: %w", img.ID, err)
	}
	d.Layers = make([]images.Layer, len(diffs))
	for i, id := range chainIDs(diffs) {
		d.Layers[i] = images.Layer{ID: id, Size: sizes[i]}
	}
	return d, nil
}

// Remove implements images.Engine, never forcing. An image with one tag (or
// none) is removed by ID in one request, the daemon refusing it while a
// container uses it or an image was built on it. With several tags each is
// removed by name; the daemon refuses the last while a container uses the
// image, and the tags removed before it are then put back. An image with a
// child only loses its last tag (the daemon untags it and keeps it,
// silently): then too its tags are put back and the removal is a conflict.
func (e *Engine) Remove(ctx context.Context, img images.Image) (images.Removed, error) {
	cctx, cancel := e.call(ctx)
	defer cancel()
	out, err := e.remove(ctx, cctx, img)
	return out, err
}

func (e *Engine) remove(parent, ctx context.Context, img images.Image) (images.Removed, error) {
	opts := client.ImageRemoveOptions{Force: false, PruneChildren: true} // noprune=0: untagged parents go too
	var out images.Removed
	collect := func(res client.ImageRemoveResult) {
		for _, it := range res.Items {
			if it.Untagged != "" {
				out.Untagged = append(out.Untagged, it.Untagged)
			}
			if it.Deleted != "" {
				out.Deleted = append(out.Deleted, it.Deleted)
			}
		}
	}
	what := "DELETE /images/" + img.ID + " (remove image)"
	if len(img.RepoTags) <= 1 {
		res, err := e.c.ImageRemove(ctx, img.ID, opts)
		collect(res)
		return out, e.wrap(parent, what, err)
	}
	var done []string
	for i, tag := range img.RepoTags {
		res, err := e.c.ImageRemove(ctx, tag, opts)
		if err != nil {
			err = e.wrap(parent, "DELETE /images/"+tag+" (remove tag)", err)
			if i > 0 && !errors.Is(err, images.ErrNotFound) {
				err = errors.Join(err, e.retag(ctx, img.ID, done))
				out.Untagged = nil
			}
			return out, fmt.Errorf("remove %s: %w", tag, err)
		}
		collect(res)
		done = append(done, tag)
	}
	if !slices.Contains(out.Deleted, img.ID) {
		err := fmt.Errorf("%w: the engine only untagged image %s (an image was built on it since the plan); tags restored", images.ErrConflict, img.ID)
		return images.Removed{}, errors.Join(err, e.retag(ctx, img.ID, done))
	}
	return out, nil
}

// retag puts back tags removed before a refused removal.
func (e *Engine) retag(ctx context.Context, id string, tags []string) error {
	var errs []error
	for _, t := range tags {
		tctx, cancel := e.call(context.WithoutCancel(ctx))
		_, err := e.c.ImageTag(tctx, client.ImageTagOptions{Source: id, Target: t})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("restore tag %s: %w", t, e.wrap(tctx, "POST /images/"+id+"/tag (restore tag)", err)))
		}
	}
	return errors.Join(errs...)
}

// PruneBuildCache implements images.Engine. Podman answers 404: that is
// images.ErrNotSupported.
func (e *Engine) PruneBuildCache(ctx context.Context, keep int64) (int64, error) {
	cctx, cancel := e.call(ctx)
	defer cancel()
	res, err := e.c.BuildCachePrune(cctx, client.BuildCachePruneOptions{All: true, ReservedSpace: keep, MaxUsedSpace: keep})
	if cerrdefs.IsNotFound(err) {
		return 0, fmt.Errorf("build cache prune at %s: %w: %w", e.Host(), images.ErrNotSupported, err)
	}
	if err != nil {
		return 0, fmt.Errorf("build cache prune: %w", e.wrap(ctx, "POST /build/prune (prune build cache)", err))
	}
	return int64(res.Report.SpaceReclaimed), nil
}

// Usage implements images.Engine: the file system of DiskPath, or of the
// daemon's data root when the daemon is local.
func (e *Engine) Usage(ctx context.Context) (images.Usage, error) {
	u := images.Usage{}
	path := e.diskPath
	if path == "" {
		if !strings.HasPrefix(e.Host(), "unix://") {
			return u, fmt.Errorf("disk usage of %s: a remote daemon's disk cannot be measured here (set a disk path)", e.Host())
		}
		cctx, cancel := e.call(ctx)
		info, err := e.c.Info(cctx, client.InfoOptions{})
		cancel()
		if err != nil {
			return u, e.wrap(ctx, "GET /info (data root)", err)
		}
		path = info.Info.DockerRootDir
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return u, fmt.Errorf("disk usage of %s: %w", path, err)
	}
	bs := int64(fs.Bsize)
	used := (int64(fs.Blocks) - int64(fs.Bfree)) * bs
	u.Used, u.Total = used, used+int64(fs.Bavail)*bs // as df computes Use%
	return u, nil
}
