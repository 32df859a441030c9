package dockerengine

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// chainIDs turns diff IDs (base first) into chain IDs, the IDs under which
// Docker stores layers and which it lists when it deletes them: the first is
// the diff ID, each next one sha256(parent chain ID + " " + diff ID).
func chainIDs(diffs []string) []string {
	out := make([]string, len(diffs))
	for i, d := range diffs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(out[i-1]+" "+d)))
	}
	return out
}

// historyEntry is one image history step, oldest first.
type historyEntry struct {
	CreatedBy string
	Size      int64
}

// layerSizes assigns history sizes to an image's n layers. Steps with a
// size made a layer; among the empty ones, the steps that create layers
// (RUN, COPY, ADD; not ENV, LABEL, CMD and other metadata) fill the
// remaining places, latest first. Zero-size layers carry no bytes, so only
// an impossible history (more sized steps than layers) is an error.
func layerSizes(n int, hist []historyEntry) ([]int64, error) {
	sized := 0
	for _, h := range hist {
		if h.Size < 0 {
			return nil, fmt.Errorf("negative layer size %d", h.Size)
		}
		if h.Size > 0 {
			sized++
		}
	}
	if sized > n {
		return nil, fmt.Errorf("%d sized history steps for %d layers", sized, n)
	}
	isLayer := make([]bool, len(hist))
	for i, h := range hist {
		isLayer[i] = h.Size > 0
	}
	missing := n - sized
	for pass := 0; pass < 2 && missing > 0; pass++ {
		for i := len(hist) - 1; i >= 0 && missing > 0; i-- {
			if !isLayer[i] && (pass == 1 || makesLayer(hist[i].CreatedBy)) {
				isLayer[i] = true
				missing--
			}
		}
	}
	out := make([]int64, 0, n)
	for i, h := range hist {
		if isLayer[i] {
			out = append(out, h.Size)
		}
	}
	for len(out) < n { // fewer history steps than layers: unsized
		out = append(out, 0)
	}
	return out, nil
}

// makesLayer guesses whether an empty history step made a layer.
func makesLayer(createdBy string) bool {
	s := strings.TrimSpace(createdBy)
	if i := strings.Index(s, "#(nop)"); i >= 0 { // classic builder metadata or COPY/ADD
		s = strings.TrimSpace(s[i+len("#(nop)"):])
		return strings.HasPrefix(s, "COPY") || strings.HasPrefix(s, "ADD")
	}
	for _, meta := range []string{"ENV", "LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "ARG", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER"} {
		if strings.HasPrefix(s, meta+" ") || s == meta {
			return false
		}
	}
	return true
}
