package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-multierror"
)

// Flatten lists the independent errors inside err (a go-multierror, an
// errors.Join, either wrapped: "sweep: %w"), or err alone; nil for nil.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	// A multierror wrapped by a task ("sweep: %w") still lists its items:
	// each item names its own path.
	var me *multierror.Error
	if errors.As(err, &me) && len(me.Errors) > 0 {
		var out []error
		for _, e := range me.Errors {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// PrintErrors is the adapters' one printer for a bad config or spec: every
// problem in errs (each flattened) on a line of its own, in the form the
// config and quota errors give ("tend.yaml:6: field
// sweep.rules[0].older_than: message"), as compilers print theirs; after
// "PREFIX: " when prefix is not "" (tend-health says "bad config" so that a
// health log tells a bad config from a sick container).
func PrintErrors(w io.Writer, prefix string, errs ...error) {
	if prefix != "" {
		prefix += ": "
	}
	for _, err := range errs {
		for _, e := range Flatten(err) {
			fmt.Fprintf(w, "%s%v\n", prefix, e)
		}
	}
}
