package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/internal/testenv"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, yaml string) string { return testenv.WriteTemp(t, "tend.yaml", yaml) }

func listen(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDefaultChecks(t *testing.T) {
	code, out, errOut := runCLI(t)
	assert.Equal(t, 0, code, out+errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^pass disk /: `, lines[0])
	assert.NotContains(t, out, "fail")
	assert.Regexp(t, `^(pass|warn|skip) memory: `, lines[1])
	assert.Regexp(t, `^(pass|warn) deleted-open: `, lines[2])
	assert.Regexp(t, `^healthy \(readiness `, lines[3])
}

func TestHealthyAndUnhealthy(t *testing.T) {
	up, down := listen(t), closedAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
health:
  checks:
    tcp: [{name: up, addr: "%s"}, {name: down, addr: "%s", profiles: [readiness]}]
    disk: [{path: /}]
`, up, down))
	code, out, _ := runCLI(t, "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "pass tcp up: "+up+" accepts connections")
	assert.Contains(t, out, "fail tcp down: connect "+down+": connection refused")
	assert.Contains(t, out, "unhealthy: 1 of 3 checks failed (readiness")

	code, out, _ = runCLI(t, "--config", cfg, "--profile", "liveness")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "pass disk /")
	assert.NotContains(t, out, "tcp", "network checks are not liveness checks")

	code, out, _ = runCLI(t, "--config", cfg, "--json")
	assert.Equal(t, 1, code)
	var rep struct {
		Healthy bool
		Profile string
		Results []struct{ Name, Status, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.False(t, rep.Healthy)
	assert.Equal(t, "readiness", rep.Profile)
	require.Len(t, rep.Results, 3)
	assert.Equal(t, "fail", rep.Results[1].Status)
}

// TestTimeoutBoundsAHungCheck: a command that ignores everything is killed
// and the verdict comes by --timeout.
func TestTimeoutBoundsAHungCheck(t *testing.T) {
	tok := fmt.Sprintf("%d.%03d", 30+os.Getpid()%50, time.Now().Nanosecond()%1000)
	cfg := writeConfig(t, fmt.Sprintf(`
health:
  timeout: 1m
  checks:
    command: [{name: stuck, command: [sh, -c, "sleep %s & sleep %s"]}]
`, tok, tok))
	start := time.Now()
	code, out, _ := runCLI(t, "--config", cfg, "--timeout", "700ms")
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "fail command stuck: ")
	assert.Regexp(t, "timed out (and was killed|after)", out)
	assert.Eventually(t, func() bool { return len(running(t, "sleep\x00"+tok)) == 0 }, time.Second, 10*time.Millisecond,
		"the command's process group is killed")
}

// running lists the processes whose NUL-separated command line contains s.
func running(t *testing.T, s string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), s) {
			found = append(found, p)
		}
	}
	return found
}

func TestStartupWaitsForTheService(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	cfg := writeConfig(t, fmt.Sprintf(`
health:
  timeout: 1s
  startup: {interval: 100ms, deadline: 10s}
  checks:
    tcp: [{addr: "%s"}]
`, addr))
	go func() {
		time.Sleep(500 * time.Millisecond)
		l2, err := net.Listen("tcp", addr)
		if err == nil {
			t.Cleanup(func() { l2.Close() })
		}
	}()
	code, out, _ := runCLI(t, "--config", cfg, "--profile", "startup")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "healthy (startup")

	code, out, _ = runCLI(t, "--config", writeConfig(t, fmt.Sprintf("health:\n  startup: {interval: 50ms}\n  checks:\n    tcp: [{addr: %q}]\n", closedAddr(t))), "--profile", "startup", "--timeout", "400ms")
	assert.Equal(t, 1, code, out)
}

func TestUsageAndConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		config string
		msg    string
	}{
		{"unknown flag", []string{"--frobnicate"}, "", "flag provided but not defined"},
		{"bad profile", []string{"--profile", "alive"}, "", `unknown profile "alive"`},
		{"negative timeout", []string{"--timeout", "-1s"}, "", "must be positive"},
		{"missing config file", []string{"--config", "/nonexistent/tend.yaml"}, "", "/nonexistent/tend.yaml"},
		{"unknown check name", nil, "health:\n  checks:\n    nvidia: {}\n", "unknown key nvidia (known here: command, "},
		{"url without scheme", nil, "health:\n  checks:\n    http: [{url: \"127.0.0.1:8888/api\"}]\n", `tend.yaml:3: field health.checks.http[0].url: "127.0.0.1:8888/api" is not an http:// or https:// URL`},
		{"negative config timeout", nil, "health:\n  timeout: -5s\n  checks:\n    disk: [{path: /}]\n", `tend.yaml:2: field health.timeout: duration "-5s": negative`},
		{"bad address", nil, "health:\n  checks:\n    ssh: [{addr: \"22\"}]\n", `field health.checks.ssh[0].addr: "22" is not host:port`},
		{"bad profile in config", nil, "health:\n  checks:\n    disk: [{path: /, profiles: [alive]}]\n", `health.checks.disk[0].profiles[0]: "alive" is not one of liveness, readiness, startup`},
		{"empty command", nil, "health:\n  checks:\n    command: [{name: x}]\n", "health.checks.command[0].command: is required"},
		{"no health section", nil, "sweep:\n  rules: [{path: /tmp, older_than: 7d}]\n", "no health section"},
		{"negative startup deadline in flow style", nil, "health:\n  startup: {interval: 1s, deadline: -10s}\n  checks:\n    disk: [{path: /}]\n", `tend.yaml:2: field health.startup.deadline: duration "-10s": negative`},
		{"bad limits severity", nil, "health:\n  checks:\n    limits: {severity: panic}\n", `health.checks.limits.severity: "panic" is not one of warn, fail`},
		{"serve and from together", []string{"--serve", "127.0.0.1:0", "--from", "http://127.0.0.1:1"}, "", "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.config != "" {
				args = append(args, "--config", writeConfig(t, tt.config))
			}
			code, out, errOut := runCLI(t, args...)
			assert.Equal(t, 1, code, "a HEALTHCHECK never gets Docker's reserved 2: %s", out+errOut)
			assert.Contains(t, errOut, tt.msg)
			if tt.config != "" {
				assert.Contains(t, errOut, "bad config: ", "the message says it is the config, not the container")
			}
			code, out, errOut = runCLI(t, append(args, "--check-config")...)
			assert.Equal(t, 2, code, "--check-config exits 2 on a bad config: %s", out+errOut)
			assert.Contains(t, errOut, tt.msg)
		})
	}
}

func TestUnsetTokenVariableFailsItsCheck(t *testing.T) {
	cfg := writeConfig(t, "health:\n  checks:\n    http: [{name: jupyter, url: \"http://127.0.0.1:1/api/status\", token_env: TEND_TEST_NO_SUCH_TOKEN}]\n    disk: [{path: /}]\n")
	code, out, errOut := runCLI(t, "--config", cfg)
	assert.Equal(t, 1, code, out+errOut)
	assert.Contains(t, out, "fail http jupyter: cannot run: environment variable TEND_TEST_NO_SUCH_TOKEN is not set; start the container with -e TEND_TEST_NO_SUCH_TOKEN=...")
	assert.Contains(t, out, "pass disk /", "the other checks still run")
	code, _, _ = runCLI(t, "--config", cfg, "--check-config")
	assert.Equal(t, 0, code, "the config itself is fine")
}

func TestCheckConfig(t *testing.T) {
	cfg := writeConfig(t, "health:\n  checks:\n    gpu: {min_count: 1}\n    tcp: [{addr: \"127.0.0.1:1\"}]\n    disk: [{path: /}]\n")
	code, out, errOut := runCLI(t, "--config", cfg, "--check-config")
	assert.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "config OK, 3 checks")
	assert.Contains(t, out, "liveness: gpu, disk /\n", "the GPU state check is part of liveness")
	assert.Contains(t, out, "readiness: gpu, tcp 127.0.0.1:1, disk /\n")
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "usage: tend-health [--config FILE] [--profile liveness|readiness|startup]")
	assert.Contains(t, out, "--log-format FORMAT\n")
	assert.Contains(t, out, "--timeout DURATION\n")
	assert.Empty(t, cli.HelpProblems(out), "placeholders in capitals, one default per flag:\n%s", out)
	code, out, _ = runCLI(t, "--version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^tend-health \S+ \(rev ([0-9a-f]{12}(-dirty)?|unknown)(, go\S+)?\)\n$`, out)
}

func TestEnvironmentOverride(t *testing.T) {
	t.Setenv("TEND_HEALTH_TIMEOUT", "-3s")
	code, _, errOut := runCLI(t)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "TEND_HEALTH_TIMEOUT")
}

// TestNoSecretInConfigErrorsOrCheckNames: a bad URL with a password and
// a token, quoted by the config error, and a check named with a token,
// listed by --check-config, reach no output (a probe's stderr lands in
// docker inspect as well).
func TestNoSecretInConfigErrorsOrCheckNames(t *testing.T) {
	bad := writeConfig(t, "health:\n  checks:\n    http: [{url: \"ftp://user:pa55word@127.0.0.1:1/api?token=s3cret1\"}]\n")
	for _, args := range [][]string{{"--config", bad}, {"--config", bad, "--check-config"}, {"--config", bad, "--json"}} {
		_, out, errOut := runCLI(t, args...)
		assert.Contains(t, errOut, "is not an http:// or https:// URL", args)
		assert.NotContains(t, out+errOut, "pa55word", args)
		assert.NotContains(t, out+errOut, "s3cret1", args)
	}
	good := writeConfig(t, "health:\n  checks:\n    http: [{name: \"j?token=s3cret2\", url: \"http://u:pa55word@127.0.0.1:1/?api_key=s3cret3\"}]\n")
	code, out, errOut := runCLI(t, "--config", good, "--check-config")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "readiness: http j?token=REDACTED")
	for _, args := range [][]string{{"--config", good}, {"--config", good, "--json"}} {
		_, out, errOut = runCLI(t, args...)
		for _, s := range []string{"s3cret2", "s3cret3", "pa55word"} {
			assert.NotContains(t, out+errOut, s, args)
		}
	}
}

// TestBadConfigOneProblemPerLine: every problem of a bad config is a line
// of its own, from the adapters' one printer (cli.PrintErrors).
func TestBadConfigOneProblemPerLine(t *testing.T) {
	cfg := writeConfig(t, "health:\n  timeout: -5s\n  checks:\n    disk: [{path: /, profile: [liveness]}]\n")
	code, out, errOut := runCLI(t, "--config", cfg, "--check-config")
	assert.Equal(t, 2, code, out+errOut)
	assert.Equal(t, "tend-health: bad config: "+cfg+`:2: field health.timeout: duration "-5s": negative: invalid value`+"\n"+
		"tend-health: bad config: "+cfg+":4: field health.checks.disk[0].profile: unknown key profile; did you mean profiles?\n", errOut)
}
