package dockerengine

// SetKindForTest sets what the engine is ("docker", "podman") as if asked.
func SetKindForTest(e *Engine, kind string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kind = kind
}
