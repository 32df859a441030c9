package health

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leftovers returns the processes whose command line contains token, and
// this process's zombie children.
func leftovers(t *testing.T, token string) (procs, zombies []string) {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), token) {
			procs = append(procs, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		// pid (comm) state ppid ...
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 1 && f[0] == "Z" && f[1] == me {
				zombies = append(zombies, e.Name())
			}
		}
	}
	return procs, zombies
}

// assertNoLeftovers waits briefly for the kernel to finish killing, then
// checks that nothing with token runs and no child of ours is a zombie.
func assertNoLeftovers(t *testing.T, token string) {
	t.Helper()
	var procs, zombies []string
	for range 20 {
		procs, zombies = leftovers(t, token)
		if len(procs) == 0 && len(zombies) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Empty(t, procs, "orphans left running")
	assert.Empty(t, zombies, "zombies left")
}

func sleepToken() string {
	return fmt.Sprintf("%d.%03d", 40+os.Getpid()%50, time.Now().Nanosecond()%1000)
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		status Status
		msg    string
	}{
		{"exit 0 shows the last line", []string{"sh", "-c", "echo starting; echo all good"}, StatusPass, "all good"},
		{"silent exit 0", []string{"true"}, StatusPass, "exited 0"},
		{"failure shows stderr", []string{"sh", "-c", "echo out; echo 'disk is sad' >&2; exit 3"}, StatusFail, "exited with status 3: disk is sad"},
		{"failure without stderr shows stdout", []string{"sh", "-c", "echo only stdout; exit 1"}, StatusFail, "status 1: only stdout"},
		{"killed by a signal", []string{"sh", "-c", "kill -TERM $$"}, StatusFail, "killed by signal terminated"},
		{"missing program", []string{"no-such-program-tend"}, StatusFail, "executable file not found"},
		{"empty", nil, StatusFail, "no command given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&Command{Argv: tt.argv}).Check(context.Background())
			assert.Equal(t, tt.status, r.Status, r.Message)
			assert.Contains(t, r.Message, tt.msg)
		})
	}
}

// TestCommandTimeoutKillsTheGroup: a grandchild holding the pipes would
// make a plain exec.CommandContext wait for it; the group kill returns at
// the deadline and leaves no orphan or zombie behind.
func TestCommandTimeoutKillsTheGroup(t *testing.T) {
	tok := sleepToken()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := (&Command{Argv: []string{"sh", "-c", "sleep " + tok + " & sleep " + tok + "; echo never"}}).Check(ctx)
	assert.Less(t, time.Since(start), 300*time.Millisecond+waitDelay+time.Second)
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, "timed out and was killed")
	assertNoLeftovers(t, tok)
}

func TestTailAndLastLines(t *testing.T) {
	b := &tailBuffer{limit: 10}
	b.Write([]byte("0123456789"))
	b.Write([]byte("abc"))
	assert.Equal(t, "3456789abc", b.String())
	assert.Equal(t, "b | c", lastLines("a\n\nb\n  \nc\n", 2))
	assert.Equal(t, "", lastLines("\n\n", 3))
}
