package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestNoSpecCodeInImportGraph: tend-health reads limits through
// quota/hostinfo, not quota, whose image-reference validation
// (distribution/reference) compiles regexps at init on every start, and a
// --from HEALTHCHECK has a 5 ms budget.
func TestNoSpecCodeInImportGraph(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command is not in PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	require.NoError(t, err, "go list -deps .")
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/tendkit/tend/quota/hostinfo", "the limits check reads through quota/hostinfo")
	for _, d := range deps {
		assert.False(t, d == "github.com/tendkit/tend/quota" || strings.Contains(d, "distribution"), "tend-health imports %s", d)
	}
}
