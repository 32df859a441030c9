// Package yamlerr turns go.yaml.in/yaml/v4 decoding errors into the line
// they point at and a message in words a user knows, for the loaders of
// tend's YAML files (adapters/internal/config, quota).
package yamlerr

import (
	"errors"
	"strings"

	"go.yaml.in/yaml/v4"
)

// tags maps the decoder's YAML tags to plain words.
var tags = []string{"!!str", "text", "!!int", "number", "!!seq", "list", "!!map", "mapping", "!!bool", "boolean", "!!float", "number"}

// Line returns the 1-based line a syntax or load error points at, or 0 when
// err carries none.
func Line(err error) int {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return le.Mark.Line
	}
	return 0
}

// Clean rewrites a decoder message: YAML tags become words, and each
// old/new pair in names (Go type names, say) is replaced as
// strings.NewReplacer would.
func Clean(msg string, names ...string) string {
	return strings.NewReplacer(append(append([]string{}, names...), tags...)...).Replace(msg)
}

// Message returns err's message cleaned with names when err is a load
// error, else err itself.
func Message(err error, names ...string) error {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return errors.New(Clean(le.Message, names...))
	}
	return err
}
