package quota

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// parseImageRef accepts what github.com/distribution/reference's
// ParseNormalizedNamed accepts (docker's own parser: optional registry
// with port, lowercase path components, tag, digest) and returns the same
// errors' texts. It is that package's grammar, compiled on first use:
// importing the package compiles eleven regular expressions at program
// start, which every tend-health probe would pay for (about 0.6 ms of a
// 5 ms budget) though only spec validation needs them.
// TestParseImageRefMatchesDistribution holds the two together.
func parseImageRef(s string) error {
	re := imageRefREs()
	if re.identifier.MatchString(s) {
		return fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, remainder := splitDockerDomain(s)
	remote := remainder
	if i := strings.IndexByte(remainder, ':'); i > -1 {
		remote = remainder[:i]
	}
	if strings.ToLower(remote) != remote {
		return fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	full := domain + "/" + remainder
	m := re.reference.FindStringSubmatch(full)
	if m == nil {
		if re.reference.MatchString(strings.ToLower(full)) {
			return errors.New("repository name must be lowercase")
		}
		return errors.New("invalid reference format")
	}
	path := m[1]
	if n := re.name.FindStringSubmatch(m[1]); len(n) == 3 {
		path = n[2]
	}
	if len(path) > 255 {
		return errors.New("repository name must not be more than 255 characters")
	}
	if m[3] != "" {
		return validDigest(m[3])
	}
	return nil
}

// validDigest checks a digest as github.com/opencontainers/go-digest
// does: a known algorithm and its length of lowercase hex.
func validDigest(d string) error {
	alg, enc, _ := strings.Cut(d, ":")
	n, ok := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	switch {
	case !ok && strings.ToLower(alg) != alg:
		return errors.New("invalid checksum digest format")
	case !ok:
		return errors.New("unsupported digest algorithm")
	case len(enc) != n:
		return errors.New("invalid checksum digest length")
	case strings.Trim(enc, "0123456789abcdef") != "":
		return errors.New("invalid checksum digest format")
	}
	return nil
}

// splitDockerDomain is distribution/reference's: "ubuntu" is
// docker.io/library/ubuntu, index.docker.io is docker.io; a first
// component with '.' or ':', localhost, or an uppercase letter is a
// registry.
func splitDockerDomain(name string) (domain, remote string) {
	first, rest, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		return "docker.io", "library/" + name
	case first == "localhost":
		domain, remote = first, rest
	case first == "index.docker.io":
		domain, remote = "docker.io", rest
	case strings.ContainsAny(first, ".:"), strings.ToLower(first) != first:
		domain, remote = first, rest
	default:
		domain, remote = "docker.io", name
	}
	if domain == "docker.io" && !strings.ContainsRune(remote, '/') {
		remote = "library/" + remote
	}
	return domain, remote
}

type imageRefRegexps struct{ identifier, reference, name *regexp.Regexp }

var imageRefREs = sync.OnceValue(func() imageRefRegexps {
	const (
		alnum     = `[a-z0-9]+`
		separator = `(?:[._]|__|[-]+)`
		component = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domain    = `(?:` + component + `(?:\.` + component + `)*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?`
		pathComp  = alnum + `(?:` + separator + alnum + `)*`
		remote    = pathComp + `(?:/` + pathComp + `)*`
		tag       = `[\w][\w.-]{0,127}`
		digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
	)
	return imageRefRegexps{
		identifier: regexp.MustCompile(`^[a-f0-9]{64}$`),
		reference:  regexp.MustCompile(`^((?:` + domain + `/)?` + remote + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`),
		name:       regexp.MustCompile(`^(?:(` + domain + `)/)?(` + remote + `)$`),
	}
})
