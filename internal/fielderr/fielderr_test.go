package fielderr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListAndEach(t *testing.T) {
	var l List
	require.NoError(t, l.Err(), "an empty list is no error")
	sentinel := errors.New("bad rule")
	l.Add("older_than", "-1s", "%s is negative", "-1s")
	l.Wrap("include[0]", "", sentinel, "an empty glob matches nothing")
	err := l.Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, sentinel)
	assert.Equal(t, "older_than: -1s is negative\ninclude[0]: an empty glob matches nothing", err.Error())

	var got []string
	Each(fmt.Errorf("wrapped: %w", errors.Join(err, errors.New("plain"))), func(e *Error) {
		got = append(got, e.Field+"|"+e.Reason)
	})
	assert.Equal(t, []string{"older_than|-1s is negative", "include[0]|an empty glob matches nothing", "|plain"}, got, "a wrapper around a join is looked through")

	got = nil
	Each(errors.Join(err, errors.New("plain")), func(e *Error) { got = append(got, e.Field+"|"+e.Reason) })
	assert.Equal(t, []string{"older_than|-1s is negative", "include[0]|an empty glob matches nothing", "|plain"}, got)
	Each(nil, func(*Error) { t.Fatal("called for nil") })
	assert.Equal(t, "whole", (&Error{Reason: "whole"}).Error())
}

func TestFields(t *testing.T) {
	var l List
	l.Add("path", "", "is required")
	l.Add("keep", "-2", "is negative")
	err := fmt.Errorf("rule 1: %w", errors.Join(l.Err(), errors.New("plain")))
	assert.Equal(t, []string{"path", "keep", ""}, Fields(err))
	assert.Nil(t, Fields(nil))
}
