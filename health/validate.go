package health

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/tendkit/tend/internal/fielderr"
)

// FieldError is one bad field found by a Validate method: Field is named
// as the config file spells it ("url", "expect[1]", "fail_usage"), Value
// is the bad value and Reason what is wrong. It is the same type in every
// tend package, so one errors.As finds it whichever package returned it.
type FieldError = fielderr.Error

// Validate checks the settings of an HTTP check: an http:// or https://
// URL with a host, and statuses from 100 to 599. It returns every problem
// (errors.Join of *FieldError), or nil.
func (c *HTTP) Validate() error {
	var l fielderr.List
	if strings.TrimSpace(c.URL) == "" {
		l.Add("url", c.URL, "is required")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := RedactSecrets(c.URL) // config errors reach the health log too
		l.Add("url", shown, "%q is not an http:// or https:// URL with a host (e.g. http://127.0.0.1:8888/api/status)", shown)
	}
	for i, st := range c.Expect {
		if st < 100 || st > 599 {
			l.Add(fmt.Sprintf("expect[%d]", i), fmt.Sprint(st), "%d is not an HTTP status (100-599)", st)
		}
	}
	return l.Err()
}

// Validate checks that Addr is host:port.
func (c *TCP) Validate() error { return validateAddr(c.Addr) }

// Validate checks that Addr is host:port.
func (c *SSH) Validate() error { return validateAddr(c.Addr) }

func validateAddr(addr string) error {
	var l fielderr.List
	if strings.TrimSpace(addr) == "" {
		l.Add("addr", addr, "is required")
	} else if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		l.Add("addr", addr, "%q is not host:port (e.g. 127.0.0.1:22)", addr)
	}
	return l.Err()
}

// Validate checks that the check has a path and no negative minimum.
func (c *Disk) Validate() error {
	var l fielderr.List
	if strings.TrimSpace(c.Path) == "" {
		l.Add("path", c.Path, "is required")
	}
	if c.MinFree < 0 {
		l.Add("min_free", fmt.Sprint(c.MinFree), "%d is negative", c.MinFree)
	}
	if c.MinFreeInodes < 0 {
		l.Add("min_free_inodes", fmt.Sprint(c.MinFreeInodes), "%d is negative", c.MinFreeInodes)
	}
	return l.Err()
}

// Validate checks that there is a program to run.
func (c *Command) Validate() error {
	var l fielderr.List
	if len(c.Argv) == 0 || strings.TrimSpace(c.Argv[0]) == "" {
		l.Add("command", "", "is required: the program and its arguments as a list, e.g. [pg_isready, -q]")
	}
	return l.Err()
}

// Validate checks the thresholds: percentages from 0 to 100, FailUsage
// not below WarnUsage when both are set.
func (c *Memory) Validate() error {
	var l fielderr.List
	for _, p := range []struct {
		field string
		v     float64
	}{{"warn_usage", float64(c.WarnUsage)}, {"fail_usage", float64(c.FailUsage)}} {
		if p.v < 0 || p.v > 100 {
			l.Add(p.field, fmt.Sprint(p.v), "%v%% is not between 0%% and 100%%", p.v)
		}
	}
	if c.WarnUsage > 0 && c.FailUsage > 0 && c.FailUsage < c.WarnUsage {
		l.Add("fail_usage", c.FailUsage.String(), "%v is below warn_usage %v", c.FailUsage, c.WarnUsage)
	}
	return l.Err()
}

// Validate checks that the thresholds are not negative.
func (c *DeletedOpen) Validate() error {
	var l fielderr.List
	if c.WarnBytes < 0 {
		l.Add("warn", fmt.Sprint(c.WarnBytes), "%d is negative", c.WarnBytes)
	}
	if c.FailBytes < 0 {
		l.Add("fail", fmt.Sprint(c.FailBytes), "%d is negative", c.FailBytes)
	}
	return l.Err()
}

// Validate checks that the counts are not negative.
func (o GPUOptions) Validate() error {
	var l fielderr.List
	if o.MinCount < 0 {
		l.Add("min_count", fmt.Sprint(o.MinCount), "%d is negative", o.MinCount)
	}
	if o.MaxTempC < 0 {
		l.Add("max_temp_c", fmt.Sprint(o.MaxTempC), "%d is negative", o.MaxTempC)
	}
	return l.Err()
}
