package images

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Policy says which images may go. The zero value removes nothing: set Match
// (or Dangling) to select images.
type Policy struct {
	// Match selects tagged images by glob over the repository
	// ("nvcr.io/nvidia/*") or the full reference ("pytorch/pytorch:2.7*").
	// A "*" also crosses "/", so "*pytorch*" matches "pytorch/pytorch".
	// Empty: no tagged image is selected.
	Match []string `json:"match,omitempty"`
	// Labels, when set, limits the pruner to images carrying all of these
	// labels ("key=value", or "key" for any value), tagged or dangling.
	Labels []string `json:"labels,omitempty"`
	// KeepLatest keeps the newest N images per repository: newest by build
	// time, or by last use on this host with KeepLatestBy "used".
	KeepLatest int `json:"keep_latest,omitempty"`
	// KeepLatestBy orders KeepLatest: KeepLatestByCreated ("" too) or
	// KeepLatestByUsed.
	KeepLatestBy KeepLatestBy `json:"keep_latest_by,omitempty"`
	// UnusedFor keeps images used (run, created from, tagged or pulled)
	// more recently than this.
	UnusedFor time.Duration `json:"unused_for,omitempty"`
	// ProtectTags keeps images with a tag matching one of these globs; a
	// pattern without ":" is matched against the tag alone ("latest").
	ProtectTags []string `json:"protect_tags,omitempty"`
	// ProtectLabels keeps images carrying one of these labels ("key=value"
	// or "key").
	ProtectLabels []string `json:"protect_labels,omitempty"`
	// Dangling also selects untagged images.
	Dangling bool `json:"dangling,omitempty"`
	// BuildCacheKeep, when set, prunes the build cache down to this many
	// bytes.
	BuildCacheKeep *int64 `json:"build_cache_keep,omitempty"`
	// DiskHigh and DiskLow (percent, 0 = unset) make pruning wait until the
	// image file system is more than DiskHigh full, and stop once it would
	// be below DiskLow, least recently used first (the kubelet's image GC).
	// DiskLow 0 means DiskHigh.
	DiskHigh float64 `json:"disk_high,omitempty"`
	DiskLow  float64 `json:"disk_low,omitempty"`
}

// globMatch is path.Match with "*" and "?" also matching "/".
func globMatch(pattern, name string) bool {
	ok, _ := path.Match(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(name, "/", "\x00"))
	return ok
}

// splitRef splits "repo:tag" (the repository may hold a registry port).
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.ContainsRune(ref[i:], '/') {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// repositories returns the image's distinct repositories.
func repositories(im Image) []string {
	var out []string
	for _, t := range im.RepoTags {
		if t == "<none>:<none>" {
			continue
		}
		r, _ := splitRef(t)
		if !contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// matches reports whether a Match glob selects the tagged image.
func (p Policy) matches(im Image) bool {
	for _, ref := range im.RepoTags {
		repo, _ := splitRef(ref)
		for _, g := range p.Match {
			if globMatch(g, repo) || globMatch(g, ref) {
				return true
			}
		}
	}
	return false
}

// protectedBy returns why the image is protected, or "".
func (p Policy) protectedBy(im Image) (KeepReason, string) {
	for _, ref := range im.RepoTags {
		_, tag := splitRef(ref)
		for _, g := range p.ProtectTags {
			if (strings.Contains(g, ":") && globMatch(g, ref)) || (!strings.Contains(g, ":") && globMatch(g, tag)) {
				return KeepReasonProtectedTag, fmt.Sprintf("protected tag %s", ref)
			}
		}
	}
	for _, l := range p.ProtectLabels {
		if hasLabel(im.Labels, l) {
			return KeepReasonProtectedLabel, fmt.Sprintf("protected label %s", l)
		}
	}
	return "", ""
}

// inScope reports whether the image carries every label of p.Labels.
func (p Policy) inScope(im Image) bool {
	for _, l := range p.Labels {
		if !hasLabel(im.Labels, l) {
			return false
		}
	}
	return true
}

// hasLabel matches "key=value" or "key" against labels.
func hasLabel(labels map[string]string, sel string) bool {
	k, v, withValue := strings.Cut(sel, "=")
	got, ok := labels[k]
	return ok && (!withValue || got == v)
}
