package config

// Images configures the image pruning task (package images).
type Images struct {
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// Host is the Docker engine address; empty means DOCKER_HOST or the default socket.
	Host           string   `yaml:"host,omitempty" json:"host,omitempty"`
	Match          []string `yaml:"match,omitempty" json:"match,omitempty"`
	KeepLatest     int      `yaml:"keep_latest,omitempty" json:"keep_latest,omitempty"`
	UnusedFor      Duration `yaml:"unused_for,omitempty" json:"unused_for,omitempty"`
	ProtectTags    []string `yaml:"protect_tags,omitempty" json:"protect_tags,omitempty"`
	ProtectLabels  []string `yaml:"protect_labels,omitempty" json:"protect_labels,omitempty"`
	Dangling       bool     `yaml:"dangling,omitempty" json:"dangling,omitempty"`
	BuildCacheKeep *Size    `yaml:"build_cache_keep,omitempty" json:"build_cache_keep,omitempty"`
	DiskHigh       *Percent `yaml:"disk_high,omitempty" json:"disk_high,omitempty"`
	DiskLow        *Percent `yaml:"disk_low,omitempty" json:"disk_low,omitempty"`
	// State is the pruner's last-use state file.
	State Path `yaml:"state,omitempty" json:"state,omitempty"`
	// Labels limits pruning to images carrying all of these labels
	// ("key=value" or "key"), tagged or dangling.
	Labels []string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// DiskPath is a path on the file system holding the images, for the
	// watermarks; empty means the daemon's data root (local daemons only).
	DiskPath Path `yaml:"disk_path,omitempty" json:"disk_path,omitempty"`
	// KeepLatestBy orders keep_latest: "created" (default, build time) or
	// "used" (last use on this host).
	KeepLatestBy string `yaml:"keep_latest_by,omitempty" json:"keep_latest_by,omitempty"`
	// CallTimeout bounds each engine request (0 = 1m); Timeout the whole
	// run (0 = 30m).
	CallTimeout Duration `yaml:"call_timeout,omitempty" json:"call_timeout,omitempty"`
	Timeout     Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// FollowEvents makes the scheduler follow the engine's events and
	// record image use in the state file between runs; default: on when
	// state is set (it needs it).
	FollowEvents *bool `yaml:"follow_events,omitempty" json:"follow_events,omitempty"`
}

// validate checks the images section; a nil section has nothing to check.
func (im *Images) validate(c *checker) {
	if im == nil {
		return
	}
	c.schedule("images.schedule", im.Schedule)
	im.validatePolicy(c)
	if im.CallTimeout < 0 {
		c.add("images.call_timeout", "%v is negative", im.CallTimeout.D())
	}
	if im.Timeout < 0 {
		c.add("images.timeout", "%v is negative", im.Timeout.D())
	}
	if im.FollowEvents != nil && *im.FollowEvents && im.State == "" {
		c.add("images.follow_events", "needs images.state (the file the uses are recorded in)")
	}
}
