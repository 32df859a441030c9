package dockerengine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
)

// A Podman-like compat socket: API 1.41 and no /build/prune.
func TestPodmanBuildCache404IsNotSupported(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/build/prune"):
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"page not found","response":404}`))
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	e, err := dockerengine.New(dockerengine.Options{Host: "tcp://" + strings.TrimPrefix(srv.URL, "http://")})
	require.NoError(t, err)
	defer e.Close()
	keep := int64(1 << 30)
	rep, err := (&images.ImagePruner{Engine: e, Policy: images.Policy{BuildCacheKeep: &keep}}).Apply(context.Background(), &images.Plan{Policy: images.Policy{BuildCacheKeep: &keep}})
	require.NoError(t, err, "404 on build cache prune is reported, not failed")
	require.NotNil(t, rep.BuildCache)
	assert.Contains(t, rep.BuildCache.Note, "not supported")
	_, err = e.PruneBuildCache(context.Background(), keep)
	assert.ErrorIs(t, err, images.ErrNotSupported)
}
