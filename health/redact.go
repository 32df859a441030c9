package health

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Redacted stands in for a secret removed from a message.
const Redacted = "REDACTED"

// secretREs compiles the patterns on first use, not at program start
// (tend-health --from must start in a few milliseconds):
//   - the user info of a URL: "scheme://user:pass@";
//   - the value of a query or form parameter whose name suggests a secret
//     ("?token=...", "&api_key=...");
//   - an Authorization (or token, or cookie) header's value.
var secretREs = sync.OnceValue(func() [3]*regexp.Regexp {
	return [3]*regexp.Regexp{
		regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@"']*@`),
		regexp.MustCompile(`(?i)([?&;](?:[a-z0-9_.-]*(?:token|key|secret|passw(?:or)?d|pwd|auth|signature|sig|credential|session)[a-z0-9_.-]*)=)[^&#\s"']*`),
		regexp.MustCompile(`(?i)((?:proxy-)?authorization|x-[a-z-]*token|cookie)(["']?\s*[:=]\s*["']?)(?:(?:token|bearer|basic)\s+)?[^\s"',;]+`),
	}
})

// RedactSecrets removes what may be a secret from s: the user info of URLs,
// the values of query parameters named like token, key, secret, password or
// signature, and Authorization, token and cookie header values. Every
// message in a Report passes through it, wrapped errors included.
func RedactSecrets(s string) string {
	if !strings.ContainsAny(s, "@=:") {
		return s
	}
	re := secretREs()
	s = re[0].ReplaceAllString(s, "${1}"+Redacted+"@")
	s = re[1].ReplaceAllString(s, "${1}"+Redacted)
	s = re[2].ReplaceAllString(s, "${1}${2}"+Redacted)
	return s
}

// printable replaces invalid UTF-8 and control characters (other than
// newline and tab) with U+FFFD, so raw binary from a subprocess cannot
// garble a report or a terminal.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			b.WriteRune(utf8.RuneError)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scrub makes a check's message safe to print: no secrets, nothing
// unprintable.
func scrub(s string) string { return RedactSecrets(printable(s)) }
