package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/tendkit/tend/images"
)

// EventBuffer is how many events the Docker daemon keeps for replay
// (since=); older ones are gone.
const EventBuffer = 256

// useActions are the events that mark an image as used: containers
// created, started, exec'd into (exec_create, exec_start carry the command
// after the action), images pulled, tagged, imported, loaded.
func useAction(typ events.Type, action string) bool {
	switch typ {
	case events.ContainerEventType:
		return action == "create" || action == "start" || strings.HasPrefix(action, "exec_create") || strings.HasPrefix(action, "exec_start")
	case events.ImageEventType:
		return action == "pull" || action == "tag" || action == "import" || action == "load"
	}
	return false
}

// Events implements images.EventSource with one GET /events (every event:
// the daemon's buffer holds all types, so that is what tells whether it
// rolled over). A container event names its image as the user gave it
// ("busybox"): it is resolved with an image inspect, remembered until the
// next image event. The connection is bounded by the call timeout until the
// daemon answers; following, the stream has no deadline. Since the daemon
// keeps its last EventBuffer events, a replay that returns that many, the
// first after since, also sends an images.EventTypeMissed event.
func (e *Engine) Events(ctx context.Context, since, until time.Time, fn func(images.Event)) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	podman, err := e.podman(ctx)
	if err != nil {
		return err
	}
	opts := client.EventsListOptions{Since: stamp(since)}
	if !until.IsZero() && !podman {
		opts.Until = stamp(until) // Podman 4 answers since+until with nothing
	}
	what := "GET /events (engine events)"
	connected := time.Now()
	started := make(chan client.EventsResult, 1)
	go func() { started <- e.c.Events(sctx, opts) }()
	timer := time.NewTimer(e.timeout)
	defer timer.Stop()
	var res client.EventsResult
	select {
	case res = <-started:
	case <-timer.C:
		cancel()
		<-started
		return fmt.Errorf("docker engine at %s: %s did not answer within %v (call timeout): %w", e.Host(), what, e.timeout, context.DeadlineExceeded)
	case <-ctx.Done():
		cancel()
		<-started
		return e.wrap(ctx, what, ctx.Err())
	}
	r := &resolver{e: e, names: map[string]string{}}
	var first time.Time
	replayed := 0
	// On Podman a replay up to until reads the stream until an event after
	// until, or until it has been quiet for a moment (the replay comes at
	// once).
	var quiet <-chan time.Time
	var quietTimer *time.Timer
	if !until.IsZero() && podman {
		quietTimer = time.NewTimer(podmanQuiet)
		defer quietTimer.Stop()
		quiet = quietTimer.C
	}
	for {
		select {
		case <-quiet:
			return nil
		case m, ok := <-res.Messages:
			if !ok {
				res.Messages = nil
				continue
			}
			t := time.Unix(0, m.TimeNano)
			if m.TimeNano == 0 {
				t = time.Unix(m.Time, 0)
			}
			if quietTimer != nil {
				if t.After(until) {
					return nil
				}
				quietTimer.Reset(podmanQuiet)
			}
			ev, err := r.event(ctx, m, t)
			if err != nil {
				return err
			}
			if t.Before(connected) {
				if replayed == 0 {
					first = t
				}
				replayed++
				// Podman keeps its events in a log file of its own size.
				if replayed == EventBuffer && first.After(since) && !podman {
					fn(images.Event{Type: images.EventTypeMissed, Time: first})
				}
			}
			fn(ev)
		case err := <-res.Err:
			if errors.Is(err, io.EOF) && !until.IsZero() {
				return nil
			}
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("docker engine at %s: %s: the stream ended", e.Host(), what)
			}
			return e.wrap(ctx, what, err)
		}
	}
}

// podmanQuiet is how long a Podman replay waits for more events.
const podmanQuiet = 300 * time.Millisecond

// podman reports whether the daemon is Podman (one GET /version, once).
func (e *Engine) podman(ctx context.Context) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kind != "" {
		return e.kind == "podman", nil
	}
	cctx, cancel := e.call(ctx)
	defer cancel()
	v, err := e.c.ServerVersion(cctx, client.ServerVersionOptions{})
	if err != nil {
		return false, e.wrap(ctx, "GET /version (engine kind)", err)
	}
	e.kind = "docker"
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			e.kind = "podman"
		}
	}
	return e.kind == "podman", nil
}

// stamp formats t as the API's since/until ("seconds.nanoseconds").
func stamp(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// resolver turns event image references into image IDs.
type resolver struct {
	e     *Engine
	mu    sync.Mutex
	names map[string]string
}

func (r *resolver) event(ctx context.Context, m events.Message, t time.Time) (images.Event, error) {
	ev := images.Event{Time: t, Type: images.EventType(m.Type), Action: string(m.Action)}
	if m.Type == events.ImageEventType {
		r.mu.Lock()
		clear(r.names) // a tag, pull or removal may change what a name means
		r.mu.Unlock()
	}
	if !useAction(m.Type, string(m.Action)) {
		return ev, nil
	}
	ref := m.Actor.ID
	if m.Type == events.ContainerEventType {
		ref = m.Actor.Attributes["image"]
	}
	ev.Ref = ref
	if ref == "" {
		return ev, nil
	}
	if strings.HasPrefix(ref, "sha256:") && len(ref) == 71 {
		ev.ImageID = ref
		return ev, nil
	}
	if len(ref) == 64 && strings.Trim(ref, "0123456789abcdef") == "" {
		ev.ImageID = "sha256:" + ref // Podman leaves the algorithm out
		return ev, nil
	}
	r.mu.Lock()
	id, ok := r.names[ref]
	r.mu.Unlock()
	if !ok {
		cctx, cancel := r.e.call(ctx)
		ins, err := r.e.c.ImageInspect(cctx, ref)
		cancel()
		switch err := r.e.wrap(ctx, "GET /images/"+ref+"/json (resolve event image)", err); {
		case errors.Is(err, images.ErrNotFound):
			id = "" // gone since
		case err != nil:
			return ev, err
		default:
			id = ins.ID
		}
		r.mu.Lock()
		r.names[ref] = id
		r.mu.Unlock()
	}
	ev.ImageID = id
	return ev, nil
}
