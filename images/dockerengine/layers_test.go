package dockerengine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChainIDs(t *testing.T) {
	// From `docker rmi` on Docker 20.10: the deleted chain IDs of a two-layer image.
	got := chainIDs([]string{
		"sha256:a1f7daad44a2ffb9b90ab2806d5ff4d8f0db147242b995196631b5d54168c2b2",
		"sha256:35618c6d6f89ffc224306c3d2d640bae7d7b8239f1b5228665efcfea130d833d",
	})
	assert.Equal(t, []string{
		"sha256:a1f7daad44a2ffb9b90ab2806d5ff4d8f0db147242b995196631b5d54168c2b2",
		"sha256:1a9a698c3b0976d32efd7e1d627e8c8cc5aaf4ad6acacb649194f6960c6c2f93",
	}, got)
}

func TestLayerSizes(t *testing.T) {
	tests := []struct {
		name string
		n    int
		hist []historyEntry
		want []int64
	}{
		{"classic builder: metadata steps skipped", 2, []historyEntry{
			{"/bin/sh -c #(nop) COPY file:6f3a in /big ", 3000000},
			{"/bin/sh -c #(nop)  LABEL tend.test.run=probe", 0},
			{"/bin/sh -c #(nop) COPY file:61f4 in /a ", 2},
			{"/bin/sh -c #(nop)  ENV X=1", 0},
		}, []int64{3000000, 2}},
		{"empty RUN layer", 3, []historyEntry{
			{"ADD rootfs.tar /", 80},
			{"ENV PATH=/x", 0},
			{"RUN /bin/sh -c true # buildkit", 0},
			{"COPY app /app # buildkit", 5},
		}, []int64{80, 0, 5}},
		{"more layers than steps", 2, []historyEntry{{"ADD x /", 7}}, []int64{7, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := layerSizes(tt.n, tt.hist)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := layerSizes(1, []historyEntry{{"ADD a /", 1}, {"ADD b /", 2}})
	assert.ErrorContains(t, err, "2 sized history steps for 1 layers")
}

func FuzzLayerSizes(f *testing.F) {
	f.Add(2, "COPY a /a", int64(5), "ENV X=1", int64(0), "RUN true", int64(0))
	f.Add(1, "/bin/sh -c #(nop) ADD x", int64(0), "", int64(7), "#(nop)", int64(-1))
	f.Fuzz(func(t *testing.T, n int, c1 string, s1 int64, c2 string, s2 int64, c3 string, s3 int64) {
		if n < 0 || n > 64 {
			return
		}
		hist := []historyEntry{{c1, s1}, {c2, s2}, {c3, s3}}
		got, err := layerSizes(n, hist)
		if err != nil {
			return
		}
		if len(got) != n {
			t.Fatalf("%d sizes for %d layers", len(got), n)
		}
		var sum, want int64
		for _, s := range got {
			sum += s
		}
		for _, h := range hist {
			want += h.Size
		}
		if sum != want {
			t.Fatalf("sizes sum to %d, history to %d", sum, want)
		}
	})
}
