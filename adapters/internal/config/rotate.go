package config

import (
	"fmt"

	"github.com/tendkit/tend/rotate"
)

// Rotate configures the log rotation task (package rotate).
type Rotate struct {
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// State is the JSON state file (last rotation per file).
	State Path         `yaml:"state,omitempty" json:"state,omitempty"`
	Files []RotateFile `yaml:"files,omitempty" json:"files,omitempty"`
}

// RotateFile is one log file (or glob) and how it is rotated.
type RotateFile struct {
	Path          Path     `yaml:"path" json:"path"`
	Size          *Size    `yaml:"size,omitempty" json:"size,omitempty"`
	Every         Duration `yaml:"every,omitempty" json:"every,omitempty"`
	Keep          *int     `yaml:"keep,omitempty" json:"keep,omitempty"` // backups kept; absent = 7, 0 = none (logrotate's rotate 0)
	MaxAge        Duration `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	Compress      string   `yaml:"compress,omitempty" json:"compress,omitempty"` // zstd | gzip | none
	DelayCompress bool     `yaml:"delay_compress,omitempty" json:"delay_compress,omitempty"`
	DateExt       bool     `yaml:"date_ext,omitempty" json:"date_ext,omitempty"` // log-YYYYMMDD instead of log.1
	Method        string   `yaml:"method,omitempty" json:"method,omitempty"`     // rename | copytruncate
	MissingOK     bool     `yaml:"missing_ok,omitempty" json:"missing_ok,omitempty"`
	IfEmpty       bool     `yaml:"if_empty,omitempty" json:"if_empty,omitempty"`
	Create        *Create  `yaml:"create,omitempty" json:"create,omitempty"`
	Signal        *Signal  `yaml:"signal,omitempty" json:"signal,omitempty"`
	// PostRotate runs after each rotation of a matching log (no shell).
	PostRotate *PostRotate `yaml:"postrotate,omitempty" json:"postrotate,omitempty"`
}

// PostRotate is a command run after a log is rotated, as logrotate's
// postrotate: argv (no shell) and a timeout (default 1m). The command
// sees the log in $TEND_LOG and its new backup in $TEND_BACKUP.
type PostRotate struct {
	Command []string `yaml:"command" json:"command"`
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Create sets the mode and owner of the new log file after a rename.
type Create struct {
	Mode  string `yaml:"mode,omitempty" json:"mode,omitempty"` // octal, e.g. "0644"
	Owner string `yaml:"owner,omitempty" json:"owner,omitempty"`
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
}

// Signal names the process told to reopen its log after a rename.
type Signal struct {
	Pidfile Path   `yaml:"pidfile" json:"pidfile"`
	Name    string `yaml:"name,omitempty" json:"name,omitempty"` // HUP (default), USR1, ...
}

// validate checks the rotate section; a nil section has nothing to check.
func (r *Rotate) validate(c *checker) {
	if r == nil {
		return
	}
	c.schedule("rotate.schedule", r.Schedule)
	for i, f := range r.Files {
		p := fmt.Sprintf("rotate.files[%d]", i)
		c.required(p+".path", string(f.Path))
		if f.Size != nil && *f.Size == 0 {
			c.add(p+".size", "0 bytes would rotate on every run; leave size out to rotate by time only")
		}
		if f.Signal != nil {
			c.required(p+".signal.pidfile", string(f.Signal.Pidfile))
			if f.Signal.Name != "" {
				if _, err := rotate.ParseSignal(f.Signal.Name); err != nil {
					c.add(p+".signal.name", "%q is not a signal name (HUP, USR1, USR2, ...)", f.Signal.Name)
				}
			}
		}
		if f.Create != nil && f.Create.Mode != "" {
			if _, ok := fileMode(f.Create.Mode); !ok {
				c.add(p+".create.mode", "%q is not an octal file mode such as \"0644\"", f.Create.Mode)
			}
		}
	}
	r.validateFiles(c)
}
