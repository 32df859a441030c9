package yamlerr

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.yaml.in/yaml/v4"
)

func TestLineAndMessage(t *testing.T) {
	var v struct {
		A int `yaml:"a"`
	}
	err := yaml.Unmarshal([]byte("b: 1\n\na: b: c\nd: 2\n"), &v)
	assert.Error(t, err)
	assert.Equal(t, 3, Line(err), "line of the nested mapping")

	err = yaml.Unmarshal([]byte("a: 1\na: text\n"), &v)
	if assert.Error(t, err) {
		assert.NotContains(t, Message(err).Error(), "!!str")
	}

	plain := errors.New("plain")
	assert.Equal(t, 0, Line(plain))
	assert.Same(t, plain, Message(plain))
}

func TestClean(t *testing.T) {
	got := Clean("cannot unmarshal !!str `x` into int in type config.Sweep", "config.", "", "in type ", "in section ")
	assert.Equal(t, "cannot unmarshal text `x` into int in section Sweep", got)
}

func TestNearest(t *testing.T) {
	known := []string{"older_than", "keep_under", "path", "exclude", "memory", "gpus", "cpus"}
	for w, want := range map[string]string{
		"olderthan":  "older_than", // a missing underscore is no edit
		"olderThan":  "older_than",
		"keep-under": "keep_under",
		"memroy":     "memory", // a transposition is one edit
		"exlcude":    "exclude",
		"pth":        "path",
		"gpu":        "gpus",
		"pus":        "", // gpus and cpus are both one edit away: no guess
		"colour":     "",
		"xyz":        "",
	} {
		assert.Equal(t, want, Nearest(w, known), w)
	}
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
	assert.Equal(t, 1, editDistance("ab", "ba"))
}
