package testenv

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder catches what Missing does instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestMissingSkipsUnlessRequired(t *testing.T) {
	t.Setenv("TEND_INTEGRATION", "")
	r := &recorder{TB: t}
	Missing(r, "logrotate not found (apt-get install %s)", "logrotate")
	assert.Empty(t, r.fatal)
	assert.Contains(t, r.skip, "logrotate not found (apt-get install logrotate)")

	t.Setenv("TEND_INTEGRATION", "required")
	r = &recorder{TB: t}
	Missing(r, "the Docker engine does not answer")
	assert.Empty(t, r.skip)
	assert.Contains(t, r.fatal, "TEND_INTEGRATION=required but the Docker engine does not answer")
}

func TestLookPath(t *testing.T) {
	t.Setenv("TEND_INTEGRATION", "")
	r := &recorder{TB: t}
	LookPath(r, "tend-no-such-program", "tend-no-such-package")
	assert.Contains(t, r.skip, "tend-no-such-program not found in PATH (apt-get install tend-no-such-package)")
	assert.NotEmpty(t, LookPath(t, "sh", "dash"))
}
