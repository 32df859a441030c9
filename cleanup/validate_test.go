package cleanup_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/internal/fielderr"
)

func TestRuleValidate(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		rule   cleanup.Rule
		fields []string
		is     error
	}{
		{"good", cleanup.Rule{Root: "/home/u/.cache/torch", OlderThan: day}, nil, nil},
		{"budget only", cleanup.Rule{Root: "/scratch", KeepUnder: 1 << 30}, nil, nil},
		{"home with within is decided when sweeping", cleanup.Rule{Root: "/root", OlderThan: day, Within: []string{".ipynb_checkpoints"}}, nil, nil},
		{"relative root", cleanup.Rule{Root: "cache", OlderThan: day}, []string{"root"}, cleanup.ErrBadRule},
		{"system directory", cleanup.Rule{Root: "/usr/", OlderThan: day}, []string{"root"}, cleanup.ErrDangerousRoot},
		{"neither age nor budget", cleanup.Rule{Root: "/tmp/x"}, []string{""}, cleanup.ErrBadRule},
		{"negatives", cleanup.Rule{Root: "/tmp/x", OlderThan: -day, KeepUnder: -1}, []string{"older_than", "keep_under"}, cleanup.ErrBadRule},
		{"words", cleanup.Rule{Root: "/tmp/x", OlderThan: day, Layout: "conda", Age: "birth"}, []string{"layout", "age"}, cleanup.ErrBadRule},
		{"globs", cleanup.Rule{Root: "/tmp/x", OlderThan: day, Include: []string{"*.tmp", ""}, Exclude: []string{"[x"}}, []string{"include[1]", "exclude[0]"}, cleanup.ErrBadRule},
		{"within", cleanup.Rule{Root: "/tmp/x", OlderThan: day, Within: []string{"ok", "a/b", "", ".."}}, []string{"within[1]", "within[2]", "within[3]"}, cleanup.ErrBadRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate()
			if tt.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.fields, fielderr.Fields(err), "every problem at once, each naming its field")
			assert.ErrorIs(t, err, tt.is)
		})
	}
}
