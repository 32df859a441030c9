package images

import (
	"fmt"
	"path"
	"strings"

	"github.com/tendkit/tend/internal/fielderr"
)

// FieldError is one bad field found by a Validate method: Field is named
// as the config file spells it ("keep_latest", "match[2]"), Value is the
// bad value and Reason what is wrong. It is the same type in every tend
// package, so one errors.As finds it whichever package returned it.
type FieldError = fielderr.Error

// Validate checks the policy and names each bad field and value: globs
// that parse and are not empty, label selectors with a key, no negative
// count, age or size, keep_latest_by "created" or "used", and watermarks from 0% to 100% with DiskLow not
// above DiskHigh. It returns every problem at once (errors.Join of
// *FieldError), or nil. Plan calls it too.
func (p Policy) Validate() error {
	var l fielderr.List
	globs := func(field string, gs []string) {
		for i, g := range gs {
			f := fmt.Sprintf("%s[%d]", field, i)
			if g == "" {
				l.Add(f, g, "bad glob %q: an empty glob matches nothing", g)
			} else if _, err := path.Match(strings.TrimPrefix(g, "/"), ""); err != nil {
				l.Add(f, g, "bad glob %q: %v", g, err)
			}
		}
	}
	labels := func(field string, sels []string) {
		for i, s := range sels {
			if k, _, _ := strings.Cut(s, "="); strings.TrimSpace(k) == "" {
				l.Add(fmt.Sprintf("%s[%d]", field, i), s, "%q is not key or key=value", s)
			}
		}
	}
	globs("match", p.Match)
	globs("protect_tags", p.ProtectTags)
	labels("labels", p.Labels)
	labels("protect_labels", p.ProtectLabels)
	if p.KeepLatest < 0 {
		l.Add("keep_latest", fmt.Sprint(p.KeepLatest), "%d is negative", p.KeepLatest)
	}
	if err := p.KeepLatestBy.Validate(); err != nil {
		l.Add("keep_latest_by", string(p.KeepLatestBy), "%q is not %q or %q", string(p.KeepLatestBy), KeepLatestByCreated, KeepLatestByUsed)
	}
	if p.UnusedFor < 0 {
		l.Add("unused_for", p.UnusedFor.String(), "%v is negative", p.UnusedFor)
	}
	if p.BuildCacheKeep != nil && *p.BuildCacheKeep < 0 {
		l.Add("build_cache_keep", fmt.Sprint(*p.BuildCacheKeep), "%d is negative", *p.BuildCacheKeep)
	}
	for _, w := range []struct {
		name string
		v    float64
	}{{"disk_high", p.DiskHigh}, {"disk_low", p.DiskLow}} {
		if w.v < 0 || w.v > 100 {
			l.Add(w.name, fmt.Sprint(w.v), "%v%% is not between 0%% and 100%%", w.v)
		}
	}
	if p.DiskLow > p.DiskHigh {
		l.Add("disk_low", fmt.Sprint(p.DiskLow), "%v%% is above disk_high %v%%", p.DiskLow, p.DiskHigh)
	}
	return l.Err()
}
