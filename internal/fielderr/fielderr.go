// Package fielderr is the error a package's Validate method returns for
// one bad field. Each package re-exports it as its own FieldError (a type
// alias, so errors.As works the same everywhere), and the adapters' config
// layer maps Field onto the config file's key to name the file and line.
package fielderr

import (
	"errors"
	"fmt"
)

// Error is one bad field of a rule or policy.
type Error struct {
	// Field is the field's name as the config file spells it, with list
	// indices: "older_than", "include[2]", "signal.pidfile". Empty when
	// the problem is the value as a whole.
	Field string
	// Value is the bad value as text ("" when the field is missing).
	Value string
	// Reason says what is wrong and what would be right.
	Reason string
	// Err, when set, is a sentinel or cause that errors.Is finds.
	Err error
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// List collects field errors; its Err joins them (nil when empty).
type List struct{ errs []error }

// Add records a bad field; the reason is formatted from format and args.
func (l *List) Add(field, value, format string, args ...any) *Error {
	e := &Error{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
	l.errs = append(l.errs, e)
	return e
}

// Wrap records a bad field whose reason wraps err (errors.Is finds err).
func (l *List) Wrap(field, value string, err error, format string, args ...any) {
	e := l.Add(field, value, format, args...)
	e.Err = err
}

// Err returns every recorded error joined, or nil.
func (l *List) Err() error { return errors.Join(l.errs...) }

// Each calls fn for every *Error in err, which may be one, or a tree of
// joined or wrapped errors; an error with no field error inside is passed
// to fn as an *Error with no Field.
func Each(err error, fn func(*Error)) {
	if err == nil {
		return
	}
	if fe, ok := err.(*Error); ok {
		fn(fe)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			Each(e, fn)
		}
		return
	}
	var fe *Error
	if inner := errors.Unwrap(err); inner != nil && errors.As(err, &fe) {
		Each(inner, fn)
		return
	}
	fn(&Error{Reason: err.Error(), Err: err})
}

// Fields lists the Field of every *Error in err, in order, as Each finds
// them ("" for an error with no field error inside); nil for nil. Tests of
// the packages' Validate methods compare it with the fields they expect.
func Fields(err error) []string {
	var fields []string
	Each(err, func(e *Error) { fields = append(fields, e.Field) })
	return fields
}
