package dockerengine_test

import (
	"context"
	"testing"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// apiClient makes many engine changes quickly (the CLI costs a process
// each).
type apiClient struct{ c *client.Client }

func newEngineClient(t *testing.T) apiClient {
	t.Helper()
	c, err := client.New(client.FromEnv)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return apiClient{c}
}

func (a apiClient) tag(ctx context.Context, id, ref string) (string, error) {
	_, err := a.c.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref})
	return ref, err
}

func (a apiClient) untag(ctx context.Context, ref string) error {
	_, err := a.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	return err
}
