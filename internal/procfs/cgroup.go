package procfs

import (
	"io"
	"slices"
	"strconv"
	"strings"
)

// Cgroup is one line of /proc/PID/cgroup, "hierarchy-ID:controllers:path":
// a cgroup v1 hierarchy ("4:memory:/docker/abc") or the v2 one
// ("0::/user.slice").
type Cgroup struct {
	HierarchyID int
	// Controllers are the v1 controllers bound to the hierarchy
	// ("cpu", "cpuacct"); named hierarchies keep their "name=" prefix.
	Controllers []string
	// Path is the cgroup's path relative to the hierarchy's root.
	Path string
}

// Unified reports whether this is the cgroup v2 (unified) hierarchy.
func (c Cgroup) Unified() bool { return c.HierarchyID == 0 && len(c.Controllers) == 0 }

// Has reports whether controller is bound to this v1 hierarchy.
func (c Cgroup) Has(controller string) bool { return slices.Contains(c.Controllers, controller) }

// ParseCgroups parses a /proc/PID/cgroup text; malformed lines are passed
// over.
func ParseCgroups(r io.Reader) ([]Cgroup, error) {
	var cs []Cgroup
	err := eachLine(r, func(line []byte) error {
		parts := strings.SplitN(string(line), ":", 3)
		if len(parts) != 3 {
			return nil
		}
		id, err := strconv.Atoi(parts[0])
		if err != nil || id < 0 {
			return nil
		}
		c := Cgroup{HierarchyID: id, Path: parts[2]}
		if parts[1] != "" {
			c.Controllers = strings.Split(parts[1], ",")
		}
		cs = append(cs, c)
		return nil
	})
	return cs, err
}

// Cgroups parses the process's /proc/PID/cgroup.
func (p Proc) Cgroups() ([]Cgroup, error) { return ReadCgroups(p.Path("cgroup")) }

// ReadCgroups parses a cgroup membership file at path.
func ReadCgroups(path string) ([]Cgroup, error) {
	var cs []Cgroup
	err := readLines(path, func(r io.Reader) error {
		var err error
		cs, err = ParseCgroups(r)
		return err
	})
	return cs, err
}
