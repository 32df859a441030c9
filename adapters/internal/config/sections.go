package config

// Config is the whole tend config file. A section left out is nil and its
// task does not run.
type Config struct {
	Sweep  *Sweep  `yaml:"sweep,omitempty" json:"sweep,omitempty"`
	Rotate *Rotate `yaml:"rotate,omitempty" json:"rotate,omitempty"`
	Images *Images `yaml:"images,omitempty" json:"images,omitempty"`
	Health *Health `yaml:"health,omitempty" json:"health,omitempty"`
	// Jobs are the user's own cron jobs, run by tend-cron.
	Jobs []Job `yaml:"jobs,omitempty" json:"jobs,omitempty"`
}

// empty reports whether the config configures nothing.
func (c *Config) empty() bool {
	return c.Sweep == nil && c.Rotate == nil && c.Images == nil && c.Health == nil && len(c.Jobs) == 0
}
