package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJobsParse(t *testing.T) {
	cfg, err := Parse("tend.yaml", []byte(`jobs:
  - name: wandb-sync
    schedule: "*/30 * * * *"
    command: ["wandb", "sync", "--clean"]
    timeout: 20m
    env: {WANDB_MODE: offline}
    dir: ~/runs
    overlap: kill
    jitter: 2m
  - name: report
    schedule: "@every 6h"
    command: python3 report.py | mail -s report ops
`), noEnv)
	require.NoError(t, err)
	require.Len(t, cfg.Jobs, 2)
	j := cfg.Jobs[0]
	assert.Equal(t, []string{"wandb", "sync", "--clean"}, j.Command.Args())
	assert.Equal(t, 20*time.Minute, j.Timeout.D())
	assert.Equal(t, map[string]string{"WANDB_MODE": "offline"}, j.Env)
	assert.Equal(t, Path("/home/ada/runs"), j.Dir, "~ expanded")
	assert.Equal(t, OverlapKill, j.Overlap)
	assert.Equal(t, 2*time.Minute, j.Jitter.D())
	assert.Equal(t, []string{"/bin/sh", "-c", "python3 report.py | mail -s report ops"}, cfg.Jobs[1].Command.Args())
	assert.Equal(t, "python3 report.py | mail -s report ops", cfg.Jobs[1].Command.String())
	assert.Empty(t, j.Validate())
}

func TestJobsErrorsNameTheLineAndField(t *testing.T) {
	_, err := Parse("tend.yaml", []byte(`jobs:
  - name: sweep
    schedule: "61 * * * *"
    command: []
    overlap: sometimes
    timeout: -1m
  - name: "bad name!"
    command: {a: b}
  - name: twice
    schedule: "@hourly"
    command: ["true"]
    env: {"": x}
  - name: twice
    schedule: "@hourly"
    command: [""]
`), noEnv)
	require.Error(t, err)
	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, "jobs[1].command"), "the unreadable command is named once")
	for _, want := range []string{
		`tend.yaml:2: field jobs[0].name: "sweep" is the name of a built-in task`,
		`tend.yaml:3: field jobs[0].schedule: bad schedule "61 * * * *"`,
		`tend.yaml:4: field jobs[0].command: is required`,
		`tend.yaml:5: field jobs[0].overlap: "sometimes" is not one of skip, queue, kill`,
		`tend.yaml:6: field jobs[0].timeout: duration "-1m": negative`,
		`tend.yaml:7: field jobs[1].name: "bad name!": use at most 64 letters`,
		`tend.yaml:8: field jobs[1].command.a: expected a list of strings (argv) or a string (run by /bin/sh -c)`,
		`tend.yaml:7: field jobs[1].schedule: is required`,
		`tend.yaml:12: field jobs[2].env: "" is not a variable name`,
		`tend.yaml:13: field jobs[3].name: "twice" is also the name of jobs[2]`,
		`tend.yaml:15: field jobs[3].command: the program name (argv[0]) is empty`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestJobsAloneAreAConfig(t *testing.T) {
	cfg, err := Parse("tend.yaml", []byte("jobs:\n  - {name: a, schedule: '@hourly', command: 'true'}\n"), noEnv)
	require.NoError(t, err)
	assert.Nil(t, cfg.Sweep)
	_, err = Parse("tend.yaml", []byte("jobs: []\n"), noEnv)
	assert.ErrorIs(t, err, ErrEmpty)
}

func TestJobsCannotBeOverriddenFromTheEnvironment(t *testing.T) {
	_, err := Parse("tend.yaml", []byte("jobs:\n  - {name: a, schedule: '@hourly', command: 'true'}\n"),
		Options{Env: []string{"TEND_JOBS_TIMEOUT=1m"}, Home: "/h"})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "environment variable TEND_JOBS_TIMEOUT=\"1m\": field jobs: the jobs section is a list"), err.Error())
}
