package quota

import (
	"fmt"
	"strconv"

	"github.com/tendkit/tend/units"
)

// Logging caps the log docker keeps of a container's output. Unless a spec
// asks otherwise, every rendered container gets the json-file driver with
// max-size DefaultLogMaxSize and max-file DefaultLogMaxFile, so a chatty
// Jupyter cannot fill the host's disk through
// /var/lib/docker/containers/ID/ID-json.log (docker's own default keeps
// that file forever).
//
// Driver is LogDriverJSONFile (the zero value), LogDriverLocal or
// LogDriverNone (no log at all). MaxSize 0 means DefaultLogMaxSize;
// LogUnlimited (-1) turns the cap off, which only a spec that says
// `max_size: unlimited` does. MaxFile 0 means DefaultLogMaxFile.
//
// Kubernetes has no per-Pod log setting: the kubelet rotates container logs
// (containerLogMaxSize, containerLogMaxFiles; 10Mi and 5 by default), so
// the Pod renderer only notes the cap in its header comment.
type Logging struct {
	Driver  LogDriver  `json:"driver,omitempty"`
	MaxSize units.Size `json:"max_size,omitempty"`
	MaxFile int        `json:"max_file,omitempty"`
}

// LogDriver is a docker logging driver that tend knows how to cap.
type LogDriver string

// The logging drivers a spec may name.
const (
	LogDriverJSONFile LogDriver = "json-file"
	LogDriverLocal    LogDriver = "local"
	LogDriverNone     LogDriver = "none"
)

// Log caps used unless a spec sets its own (the kubelet's defaults: 10 MiB
// a file, 5 files).
const (
	DefaultLogMaxSize = 10 * units.MiB
	DefaultLogMaxFile = 5
	// LogUnlimited as Logging.MaxSize asks for no cap.
	LogUnlimited units.Size = -1
	// maxLogFiles bounds max_file (docker takes any int; thousands of
	// rotated files are a mistake).
	maxLogFiles = 1000
)

// Effective returns l with the defaults filled in: the driver, the size
// cap (LogUnlimited when the spec turned it off, 0 for driver none) and the
// file count (0 when there is no cap). It is idempotent: the effective
// logging of an effective logging is itself.
func (l Logging) Effective() Logging {
	if l.Driver == "" {
		l.Driver = LogDriverJSONFile
	}
	if l.Driver == LogDriverNone {
		return Logging{Driver: LogDriverNone}
	}
	switch l.MaxSize {
	case 0:
		l.MaxSize = DefaultLogMaxSize
	case LogUnlimited:
		return Logging{Driver: l.Driver, MaxSize: LogUnlimited}
	}
	if l.MaxFile == 0 {
		l.MaxFile = DefaultLogMaxFile
	}
	return l
}

// Capped reports whether the effective logging bounds the log's size.
func (l Logging) Capped() bool {
	e := l.Effective()
	return e.Driver == LogDriverNone || e.MaxSize > 0
}

// options returns docker's --log-opt values for the effective logging.
func (l Logging) options() map[string]string {
	e := l.Effective()
	if e.MaxSize <= 0 {
		return nil
	}
	return map[string]string{"max-size": dockerSize(e.MaxSize), "max-file": strconv.Itoa(e.MaxFile)}
}

func (l Logging) withDefaults(d Logging) Logging {
	if l.Driver == "" {
		l.Driver = d.Driver
	}
	if l.MaxSize == 0 {
		l.MaxSize = d.MaxSize
	}
	if l.MaxFile == 0 {
		l.MaxFile = d.MaxFile
	}
	return l
}

// validate reports what docker would refuse.
func (l Logging) validate(i int, user string, ps *problems) {
	switch l.Driver {
	case "", LogDriverJSONFile, LogDriverLocal, LogDriverNone:
	default:
		ps.add(i, user, "logging.driver", "%q: use json-file, local or none (drivers tend cannot cap are refused)", string(l.Driver))
	}
	if l.MaxSize != 0 && l.MaxSize != LogUnlimited && l.MaxSize < units.KiB {
		ps.add(i, user, "logging.max_size", "%s is under 1KiB", l.MaxSize)
	}
	if l.MaxFile < 0 || l.MaxFile > maxLogFiles {
		ps.add(i, user, "logging.max_file", "%d: use 1 to %d", l.MaxFile, maxLogFiles)
	}
}

// String prints the effective logging ("json-file 10MiB x 5").
func (l Logging) String() string {
	e := l.Effective()
	if e.MaxSize <= 0 {
		if e.Driver == LogDriverNone {
			return "none"
		}
		return string(e.Driver) + " unlimited"
	}
	return fmt.Sprintf("%s %s x %d", e.Driver, e.MaxSize, e.MaxFile)
}

// Secret is a file mounted read-only into the container at
// /run/secrets/NAME (SecretsDir), as compose does with `secrets:`.
type Secret struct {
	Name string `json:"name"`
	// File is the absolute path of the file on the host.
	File string `json:"file,omitempty"`
}

// SecretsDir is where secrets are mounted in the container.
const SecretsDir = "/run/secrets"
