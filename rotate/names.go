package rotate

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// codecExts are the suffixes of compressed backups, whatever a rule's
// current codec, so switching codecs never orphans old backups.
var codecExts = []string{".gz", ".zst"}

// backup is one rotated file of a live log.
type backup struct {
	path  string
	index int    // numbered names: 1 for log.1, log.1.gz ...
	stamp string // dated names: "20240102" or "20240102-150405"
	ext   string // ".gz", ".zst" or ""
	size  int64
	mtime time.Time
}

// splitCodec returns name without a compression suffix, and the suffix.
func splitCodec(name string) (string, string) {
	for _, e := range codecExts {
		if strings.HasSuffix(name, e) {
			return strings.TrimSuffix(name, e), e
		}
	}
	return name, ""
}

// parseBackup reports whether name (a base name in the log's directory) is
// a backup of the log named base, and which.
func parseBackup(base, name string, dateExt bool) (backup, bool) {
	stem, ext := splitCodec(name)
	if dateExt {
		rest, ok := strings.CutPrefix(stem, base+"-")
		if !ok || !validStamp(rest) {
			return backup{}, false
		}
		return backup{stamp: rest, ext: ext}, true
	}
	rest, ok := strings.CutPrefix(stem, base+".")
	if !ok || !digits(rest) || rest[0] == '0' || len(rest) > 6 { // not "+1", " 1"
		return backup{}, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 {
		return backup{}, false
	}
	return backup{index: n, ext: ext}, true
}

func validStamp(s string) bool {
	day, clock, hasClock := strings.Cut(s, "-")
	if len(day) != 8 || !digits(day) {
		return false
	}
	return !hasClock || (len(clock) == 6 && digits(clock))
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// listBackups returns the backups of the live log at path, newest first.
func listBackups(path string, dateExt bool) ([]backup, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []backup
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if b, ok := parseBackup(base, e.Name(), dateExt); ok {
			info, err := e.Info()
			if err != nil {
				continue // deleted meanwhile
			}
			b.path = filepath.Join(dir, e.Name())
			b.size, b.mtime = info.Size(), info.ModTime()
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if dateExt {
			return out[i].stamp > out[j].stamp
		}
		return out[i].index < out[j].index
	})
	return out, nil
}

// numberedName is log.N plus a codec suffix.
func numberedName(path string, n int, ext string) string {
	return path + "." + strconv.Itoa(n) + ext
}

// datedName is log-YYYYMMDD (or log-YYYYMMDD-HHMMSS when long is set) plus
// a codec suffix, in local time as logrotate's dateext.
func datedName(path string, t time.Time, long bool, ext string) string {
	layout := "20060102"
	if long {
		layout = "20060102-150405"
	}
	return path + "-" + t.Local().Format(layout) + ext
}

// isBackupName reports whether name looks like any log's backup or a
// temporary file of ours, so globs such as app*.log* skip them.
func isBackupName(name string) bool {
	if strings.Contains(name, ".tend-tmp") {
		return true
	}
	stem, ext := splitCodec(name)
	if ext != "" {
		return true
	}
	if i := strings.LastIndexByte(stem, '.'); i >= 0 && digits(stem[i+1:]) {
		return true
	}
	if i := strings.LastIndexByte(stem, '-'); i >= 0 && len(stem)-i-1 == 8 && digits(stem[i+1:]) {
		return true
	}
	return false
}

// listTemps returns the temporary files an interrupted run left next to
// the live log at path (compressions and copies never renamed into place).
func listTemps(path string) []string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, "."+base) && strings.Contains(n, ".tend-tmp") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}
