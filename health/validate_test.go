package health

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tendkit/tend/internal/fielderr"
)

func TestChecksValidate(t *testing.T) {
	tests := []struct {
		name   string
		check  interface{ Validate() error }
		fields []string
	}{
		{"http good", &HTTP{URL: "http://127.0.0.1:8888/api/status", Expect: []int{200, 204}}, nil},
		{"http", &HTTP{URL: "127.0.0.1:8888/api", Expect: []int{42, 200, 600}}, []string{"url", "expect[0]", "expect[2]"}},
		{"http no url", &HTTP{}, []string{"url"}},
		{"tcp", &TCP{Addr: "22"}, []string{"addr"}},
		{"ssh", &SSH{}, []string{"addr"}},
		{"ssh good", &SSH{Addr: "[::1]:22"}, nil},
		{"disk", &Disk{MinFree: -1, MinFreeInodes: -1}, []string{"path", "min_free", "min_free_inodes"}},
		{"command", &Command{Argv: []string{" "}}, []string{"command"}},
		{"memory", &Memory{WarnUsage: 90, FailUsage: 80}, []string{"fail_usage"}},
		{"memory over 100", &Memory{WarnUsage: 190}, []string{"warn_usage"}},
		{"deleted open", &DeletedOpen{WarnBytes: -1, FailBytes: -2}, []string{"warn", "fail"}},
		{"gpu", GPUOptions{MinCount: -1, MaxTempC: -5}, []string{"min_count", "max_temp_c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.fields, fielderr.Fields(tt.check.Validate()))
		})
	}
}
