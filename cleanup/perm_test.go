package cleanup

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMayRemove(t *testing.T) {
	me := &identity{uid: 1000, groups: []uint32{1000, 50}}
	tests := []struct {
		name  string
		id    *identity
		dir   Info
		owner uint32
		want  bool
	}{
		{"root may remove anything", nil, Info{UID: 0, Perm: 0o755}, 0, true},
		{"own writable dir", me, Info{UID: 1000, Perm: 0o755}, 0, true},
		{"own dir without write", me, Info{UID: 1000, Perm: 0o555}, 1000, false},
		{"own dir without search", me, Info{UID: 1000, Perm: 0o600}, 1000, false},
		{"group-writable dir of a group of mine", me, Info{UID: 0, GID: 50, Perm: 0o775}, 0, true},
		{"group-writable dir of another group", me, Info{UID: 0, GID: 7, Perm: 0o775}, 1000, false},
		{"world-writable dir", me, Info{UID: 0, Perm: 0o777}, 0, true},
		{"sticky /tmp, my file", me, Info{UID: 0, Perm: 0o1777}, 1000, true},
		{"sticky /tmp, another user's file", me, Info{UID: 0, Perm: 0o1777}, 0, false},
		{"sticky dir I own, another user's file", me, Info{UID: 1000, Perm: 0o1777}, 0, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.id.mayRemove(tt.dir, tt.owner), tt.name)
	}
}
