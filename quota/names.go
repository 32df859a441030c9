package quota

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// A user's name is used as is for the docker container, the compose
// service and container_name, and the Kubernetes Pod and its container, so
// it must be valid in all of them: a DNS-1123 label (what Kubernetes asks
// of a container name, stricter than a Pod's DNS-1123 subdomain) that is
// also a docker container name (at least two characters). The rules are
// those of k8s.io/apimachinery's validation package and docker's
// daemon/names; the tests check them against apimachinery itself.
const dns1123LabelMax = 63

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isDNS1123Label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > dns1123LabelMax || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// isEnvVarName is Kubernetes' rule for env names: [-._a-zA-Z][-._a-zA-Z0-9]*
// (which also excludes "=", the one character docker refuses), and not "."
// or ".." or a name starting with "..".
func isEnvVarName(s string) bool {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isDockerName is docker's container name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
func isDockerName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

// checkUserName says why name cannot name a container everywhere, or nil.
// The error wraps ErrBadName; a *badNameError carries the suggestion.
func checkUserName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("every user needs a name: %w", ErrBadName)
	case !isDockerName(name):
		return &badNameError{name: name, rule: "is not a docker container name (letters, digits, _ . -, starting with a letter or digit, at least 2 characters)", suggest: suggestName(name), other: -1}
	case !isDNS1123Label(name):
		return &badNameError{name: name, rule: "cannot name a Kubernetes container or Pod: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", suggest: suggestName(name), other: -1}
	}
	return nil
}

// badNameError is a user's name that is not valid everywhere, with a name
// that is (suggest, "" when none comes to mind) and, when another user
// already has that name or maps to it too, that user, so that following
// the advice cannot make two users one.
type badNameError struct {
	name, rule, suggest string
	other               int  // index of the user the suggestion clashes with; -1: none
	otherMapped         bool // other's name is not suggest but maps to it too
	otherLine           int
}

func (e *badNameError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.80q %s", e.name, e.rule)
	switch {
	case e.suggest == "":
	case e.other < 0:
		fmt.Fprintf(&b, " (e.g. %q)", e.suggest)
	case e.otherMapped:
		fmt.Fprintf(&b, " (not %q: the name of %s maps to it too)", e.suggest, otherUser(e.other, e.otherLine))
	default:
		fmt.Fprintf(&b, " (not %q: %s is named so)", e.suggest, otherUser(e.other, e.otherLine))
	}
	b.WriteString(": " + ErrBadName.Error())
	return b.String()
}

func (e *badNameError) Unwrap() error { return ErrBadName }

// otherUser names users[i] for a message, by its line when known.
func otherUser(i, line int) string {
	if line > 0 {
		return fmt.Sprintf("the user on line %d (users[%d])", line, i)
	}
	return fmt.Sprintf("users[%d]", i)
}

// suggestName maps a name to one valid everywhere (a DNS-1123 label that
// is also a docker name), or "" when that leaves too little; for messages
// only: tend never renames a user.
func suggestName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < dns1123LabelMax; i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case isLowerAlnum(c):
			b.WriteByte(c)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if !isDNS1123Label(out) || !isDockerName(out) {
		return ""
	}
	return out
}

// checkImage parses an image reference as docker does (lowercase
// repository, optional registry, tag and digest).
func checkImage(image string) error {
	if image == "" {
		return fmt.Errorf("missing: the image to run")
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return fmt.Errorf("%.120q is not an image reference docker accepts: %w (%w)", image, err, ErrBadName)
	}
	return nil
}

// validSecretName: lowercase letters, digits, '_' and '-', so that the
// name works as a compose secret and, with '_' as '-', as a Kubernetes
// Secret name.
func validSecretName(name string) error {
	if !isDNS1123Label(k8sSecretName(name)) || strings.ToLower(name) != name {
		return fmt.Errorf("secret name %.80q: use lowercase letters, digits, '_' and '-', starting and ending with a letter or digit, at most 63 characters: %w", name, ErrBadName)
	}
	return nil
}

// k8sSecretName maps a secret's name to its Kubernetes Secret object's.
func k8sSecretName(name string) string { return strings.ReplaceAll(name, "_", "-") }
