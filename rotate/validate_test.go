package rotate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tendkit/tend/internal/fielderr"
)

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		name   string
		rule   Rule
		fields []string
	}{
		{"good", Rule{Path: "/var/log/*.log", Keep: DefaultKeep, Compress: CompressionZstd}, nil},
		{"rename with signal and create", Rule{Path: "/x.log", Signal: &Signal{Pidfile: "/run/x.pid"}, Create: &Create{UID: -1, GID: -1}}, nil},
		{"no path", Rule{}, []string{"path"}},
		{"bad glob", Rule{Path: "/var/log/[x.log"}, []string{"path"}},
		{"negatives", Rule{Path: "/x.log", Size: -1, Every: -time.Hour, Keep: -2, MaxAge: -time.Hour}, []string{"size", "every", "keep", "max_age"}},
		{"words", Rule{Path: "/x.log", Compress: "lz4", Method: "move"}, []string{"compress", "method"}},
		{"copytruncate has nothing to signal or create", Rule{Path: "/x.log", Method: MethodCopyTruncate, Signal: &Signal{}, Create: &Create{}}, []string{"signal.pidfile", "signal", "create"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.fields, fielderr.Fields(tt.rule.Validate()))
		})
	}
	// The rotator refuses a bad rule before touching anything, naming it.
	_, err := (&Rotator{Rules: []Rule{{Path: "/x.log", Keep: -2}}}).Plan(t.Context())
	assert.ErrorContains(t, err, "rule /x.log: keep: -2 is negative")
}
