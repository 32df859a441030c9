package health

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestRedactSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{`Get "http://alice:pw@127.0.0.1:8888/api/status?token=abc123&x=1": context deadline exceeded`,
			`Get "http://REDACTED@127.0.0.1:8888/api/status?token=REDACTED&x=1": context deadline exceeded`},
		{"https://h/lab?x=1&access_token=t0k&api_key=k3y#frag", "https://h/lab?x=1&access_token=REDACTED&api_key=REDACTED#frag"},
		{"Authorization: token s3cret", "Authorization: REDACTED"},
		{"authorization=Bearer s3cret, next", "authorization=REDACTED, next"},
		{`{"X-Auth-Token": "s3cret"}`, `{"X-Auth-Token": "REDACTED"}`},
		{"no secrets here: 5GiB free of 10GiB", "no secrets here: 5GiB free of 10GiB"},
		{"ssh://git@host:22", "ssh://REDACTED@host:22"},
		{"mailto-like user@example.org stays", "mailto-like user@example.org stays"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, RedactSecrets(tt.in), tt.in)
	}
}

// TestProberRedactsEveryMessage: whatever a check says, the report carries
// no secret and nothing unprintable.
func TestProberRedactsEveryMessage(t *testing.T) {
	leaky := funcCheck{name: "http http://u:pw@h/?token=s3cret", fn: func(context.Context) Result {
		return failf("GET http://u:pw@h/x?token=s3cret: refused \x1b[31m\xff")
	}}
	r := (&Prober{Checks: []Check{leaky}}).Run(context.Background(), ProfileReadiness)
	out := r.String()
	assert.NotContains(t, out, "s3cret")
	assert.NotContains(t, out, "pw")
	assert.NotContains(t, out, "\x1b")
	assert.True(t, utf8.ValidString(out))
}

// TestProberTimeoutWordsAgree: a check cut off by the overall deadline is
// reported as "timed out after", whether its own deadline or the whole
// probe's ran out first (text and JSON print the same message).
func TestProberTimeoutWordsAgree(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, p := range []*Prober{
		{Timeout: 100 * time.Millisecond, Checks: []Check{hang("h", release)}},
		{Timeout: time.Second, Checks: []Check{Configured{Inner: hang("h", release), Timeout: 100 * time.Millisecond}}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		r := p.Run(ctx, ProfileReadiness)
		cancel()
		assert.True(t, strings.HasPrefix(r.Results[0].Message, "timed out after"), r.Results[0].Message)
	}
}

func FuzzRedactSecrets(f *testing.F) {
	f.Add("http://a:b@h/p?token=x")
	f.Add("Authorization: token abc")
	f.Add("\xff?key=\x00")
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactSecrets(s)
		// Idempotent, and a token-named parameter's value never survives.
		assert.Equal(t, out, RedactSecrets(out))
		if i := strings.Index(out, "?token="); i >= 0 {
			rest := out[i+len("?token="):]
			assert.True(t, strings.HasPrefix(rest, Redacted) || rest == "" || strings.ContainsAny(rest[:1], "&#\t\n\f\r \"'"), out)
		}
	})
}
