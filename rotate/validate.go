package rotate

import (
	"fmt"
	"path"

	"github.com/tendkit/tend/internal/fielderr"
)

// DefaultKeep is how many backups a config that leaves keep out keeps
// (logrotate's usual weekly/rotate 7). A Rule's zero Keep keeps none, as
// logrotate's rotate 0; callers that read an optional keep use this.
const DefaultKeep = 7

// FieldError is one bad field found by a Validate method: Field is named
// as the config file spells it ("keep", "signal.pidfile"), Value is the
// bad value and Reason what is wrong. It is the same type in every tend
// package, so one errors.As finds it whichever package returned it.
type FieldError = fielderr.Error

// Validate checks the rule on its own, before any file is touched: a
// path that is a well-formed glob, no negative size, interval, count or
// age, a known codec and method, and a Signal or Create only where they
// apply (method MethodRename; a Signal names its pidfile). It returns every
// problem at once (errors.Join of *FieldError), or nil. Rotate and Plan
// call it too.
func (r Rule) Validate() error {
	var l fielderr.List
	if r.Path == "" {
		l.Add("path", "", "is required")
	} else if _, err := path.Match(r.Path, ""); err != nil {
		l.Add("path", r.Path, "bad glob %q: %v", r.Path, err)
	}
	if r.Size < 0 {
		l.Add("size", fmt.Sprint(r.Size), "%d is negative", r.Size)
	}
	if r.Every < 0 {
		l.Add("every", r.Every.String(), "%v is negative", r.Every)
	}
	if r.Keep < KeepAll {
		l.Add("keep", fmt.Sprint(r.Keep), "%d is negative (-1, KeepAll, keeps every backup)", r.Keep)
	}
	if r.MaxAge < 0 {
		l.Add("max_age", r.MaxAge.String(), "%v is negative", r.MaxAge)
	}
	if !r.Compress.valid() {
		l.Add("compress", string(r.Compress), "%q is not one of zstd, gzip, none", r.Compress)
	}
	m := r.method()
	if m != MethodRename && m != MethodCopyTruncate {
		l.Add("method", string(r.Method), "%q is not one of rename, copytruncate", r.Method)
	}
	if r.Signal != nil {
		if r.Signal.Pidfile == "" {
			l.Add("signal.pidfile", "", "is required")
		}
		if m == MethodCopyTruncate {
			l.Add("signal", "", "copytruncate keeps the writer's file: there is nothing to signal (use method: rename)")
		}
	}
	if r.Create != nil && m == MethodCopyTruncate {
		l.Add("create", "", "copytruncate keeps the live file: create applies to method rename only")
	}
	if pr := r.PostRotate; pr != nil {
		if len(pr.Argv) == 0 || pr.Argv[0] == "" {
			l.Add("postrotate.command", "", "is empty: give the program and its arguments as a list")
		}
		if pr.Timeout < 0 {
			l.Add("postrotate.timeout", pr.Timeout.String(), "%v is negative", pr.Timeout)
		}
	}
	return l.Err()
}
