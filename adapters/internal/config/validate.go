package config

import (
	"fmt"
	"strings"

	"github.com/robfig/cron/v3"
)

type fieldError struct {
	field string
	err   error
}

type checker struct{ errs []fieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, fieldError{field: field, err: fmt.Errorf(format, args...)})
}

func (c *checker) oneOf(field, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func (c *checker) nonNegative(field string, v int) {
	if v < 0 {
		c.add(field, "%d is negative", v)
	}
}

func (c *checker) schedule(field, s string) {
	if s == "" {
		return
	}
	if _, err := ParseSchedule(s); err != nil {
		c.add(field, "bad schedule %q: %v", s, err)
	}
}

func (c *checker) required(field, v string) {
	if strings.TrimSpace(v) == "" {
		c.add(field, "is required (a bare ~ is YAML for null: write \"~\" for the home directory)")
	} else if unexpanded(v) {
		c.add(field, "%q: the home directory is unknown ($HOME is unset, empty or \"/\"), so ~ cannot be expanded", v)
	}
}

// unexpanded reports whether p still starts with "~" because the home
// directory is unknown (required has already said so).
func unexpanded(p string) bool { return p == "~" || strings.HasPrefix(p, "~/") }

// ParseSchedule parses a schedule as tend-cron reads it: a five-field cron
// expression or a descriptor (@hourly, @daily, @weekly, @every 6h).
func ParseSchedule(s string) (cron.Schedule, error) {
	return cron.ParseStandard(s)
}

// validate checks what the types alone cannot: allowed words, signs, globs,
// schedules and required fields. Section files add their own checks here.
func validate(cfg *Config) []fieldError {
	var c checker
	cfg.Sweep.validate(&c)
	cfg.Rotate.validate(&c)
	cfg.Images.validate(&c)
	cfg.Health.validate(&c)
	validateJobs(&c, cfg.Jobs)
	return c.errs
}
