package hostinfo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxCPUs bounds host CPU counts and CPU numbers in cpu lists (Linux
// supports at most 8192 with CONFIG_MAXSMP).
const MaxCPUs = 1 << 16

// ErrTooLarge is wrapped by errors for input over a bound (MaxCPUs). It is
// also package quota's ErrTooLarge, whose spec reader wraps it for its own
// bounds; hence its text.
var ErrTooLarge = errors.New("over a limit of the spec reader")

// NanoCPUs is a number of CPUs in billionths, as docker counts them.
type NanoCPUs int64

// String prints the number of CPUs as docker's --cpus reads it ("2", "0.5").
func (n NanoCPUs) String() string {
	s := strconv.FormatInt(int64(n)/1e9, 10)
	if frac := int64(n) % 1e9; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", frac), "0")
	}
	return s
}

// Millis returns the CPUs in thousandths, rounded up (Kubernetes' finest unit).
func (n NanoCPUs) Millis() int64 { return (int64(n) + 999999) / 1000000 }

// Ulimit is a resource limit set with setrlimit; -1 means unlimited.
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}
