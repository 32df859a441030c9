//go:build !linux

package hostinfo

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostReadersUnsupported: outside Linux the host readers say so
// (errors.ErrUnsupported, naming the OS) instead of reading nothing.
func TestHostReadersUnsupported(t *testing.T) {
	_, err := ReadHost(context.Background(), HostOptions{})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "not supported on "+runtime.GOOS)
	_, err = ReadLimits("/")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "not supported on "+runtime.GOOS)
}
