package images

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tendkit/tend/internal/fielderr"
)

func TestPolicyValidate(t *testing.T) {
	neg := int64(-1)
	tests := []struct {
		name   string
		p      Policy
		fields []string
	}{
		{"zero", Policy{}, nil},
		{"good", Policy{Match: []string{"nvcr.io/*"}, Labels: []string{"team=ml", "ci"}, KeepLatest: 2, DiskHigh: 85, DiskLow: 80}, nil},
		{"globs", Policy{Match: []string{"[x", ""}, ProtectTags: []string{"v[1"}}, []string{"match[0]", "match[1]", "protect_tags[0]"}},
		{"labels", Policy{Labels: []string{"=x", " =y"}, ProtectLabels: []string{""}}, []string{"labels[0]", "labels[1]", "protect_labels[0]"}},
		{"negatives", Policy{KeepLatest: -1, UnusedFor: -time.Hour, BuildCacheKeep: &neg}, []string{"keep_latest", "unused_for", "build_cache_keep"}},
		{"watermarks", Policy{DiskHigh: 120, DiskLow: -1}, []string{"disk_high", "disk_low"}},
		{"low above high", Policy{DiskHigh: 70, DiskLow: 80}, []string{"disk_low"}},
		{"low alone", Policy{DiskLow: 80}, []string{"disk_low"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.fields, fielderr.Fields(tt.p.Validate()))
		})
	}
}
