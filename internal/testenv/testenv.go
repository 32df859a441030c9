// Package testenv lets integration tests use real components (the Docker
// engine, logrotate, find, systemd-tmpfiles, sshd, jupyter, torch) and skip
// with a clear reason when one is absent, except when the environment
// variable TEND_INTEGRATION=required (as CI sets it): then a missing
// component fails the test instead, so nothing is silently skipped.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Required reports whether TEND_INTEGRATION=required is set.
func Required() bool { return os.Getenv("TEND_INTEGRATION") == "required" }

// Missing skips t because a component is absent, or fails it when
// integration tests are required. The reason should name the component and
// how to get it ("logrotate not found: apt-get install logrotate").
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("TEND_INTEGRATION=required but %s", reason)
		return
	}
	t.Skipf("skipping integration test: %s (set TEND_INTEGRATION=required to make this a failure)", reason)
}

// LookPath returns the path of the named program, or calls Missing with a
// hint naming the Debian package that provides it.
func LookPath(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found in PATH (apt-get install %s)", name, debianPackage)
	}
	return p
}

// Docker checks that the docker CLI is installed and the engine answers,
// and returns the CLI's path.
func Docker(t testing.TB) string {
	t.Helper()
	p := LookPath(t, "docker", "docker.io")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "version", "--format", "{{.Server.APIVersion}}").CombinedOutput()
	if err != nil {
		Missing(t, "the Docker engine does not answer (%v): %s", err, out)
	}
	return p
}

// Short skips t under `go test -short`, for slow integration tests; it
// never skips when integration tests are required.
func Short(t testing.TB) {
	t.Helper()
	if testing.Short() && !Required() {
		t.Skip("skipping slow integration test in -short mode")
	}
}
