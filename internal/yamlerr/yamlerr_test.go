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
