package quota

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/stretchr/testify/assert"
)

// imageRefCases are references docker accepts and rejects, in every branch
// of the grammar: registries with ports and IPv6, localhost, uppercase in
// each place, tags, digests of each algorithm and malformed ones, long
// names, 64-hex identifiers.
var imageRefCases = []string{
	"", "ubuntu", "ubuntu:22.04", "library/ubuntu", "docker.io/library/ubuntu:latest",
	"index.docker.io/ubuntu", "nvcr.io/nvidia/pytorch:24.01-py3", "localhost/app", "localhost:5000/app:1",
	"registry.example.com:5000/team/app@sha256:" + strings.Repeat("a", 64),
	"app@sha256:" + strings.Repeat("A", 64), "app@sha256:" + strings.Repeat("a", 63),
	"app@sha384:" + strings.Repeat("b", 96), "app@sha512:" + strings.Repeat("c", 128),
	"app@md5:" + strings.Repeat("d", 32), "app@MD5:" + strings.Repeat("d", 32), "app@Sha256:" + strings.Repeat("a", 64),
	"app:tag@sha256:" + strings.Repeat("0", 64), "[::1]:5000/app", "[fe80::1]/x/y",
	"Ubuntu", "ubuntu:Tag", "Hqi-Busybox:1", "Example.com/app", "EXAMPLE:5000/app", "example.com/App",
	"a/b/c/d/e", "a__b", "a___b", "a--b", "a.-b", "-a", "a-", "a//b", "a/", "/a", "a:", "a@", ":tag",
	"a:" + strings.Repeat("t", 128), "a:" + strings.Repeat("t", 129), "a:.tag", "a:-tag",
	strings.Repeat("a", 64), strings.Repeat("A", 64), strings.Repeat("a", 63),
	strings.Repeat("a", 250), strings.Repeat("a", 260), "x/" + strings.Repeat("a/", 130) + "a",
	"ex ample/app", "app\n", "ünicode", "a.b.c:99999/d", "foo_bar.baz-qux", "foo:bar:baz",
}

// TestParseImageRefMatchesDistribution holds parseImageRef to what
// docker's own parser (github.com/distribution/reference) says.
func TestParseImageRefMatchesDistribution(t *testing.T) {
	for _, s := range imageRefCases {
		checkImageRefAgrees(t, s)
	}
}

func checkImageRefAgrees(t *testing.T, s string) {
	t.Helper()
	_, want := reference.ParseNormalizedNamed(s)
	got := parseImageRef(s)
	if want == nil {
		assert.NoError(t, got, "%q", s)
		return
	}
	if assert.Error(t, got, "%q: distribution says %v", s, want) {
		assert.Equal(t, want.Error(), got.Error(), "%q", s)
	}
}

func FuzzParseImageRef(f *testing.F) {
	for _, s := range imageRefCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkImageRefAgrees(t, s) })
}
