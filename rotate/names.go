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
	ent   os.DirEntry
	info  *backupInfo // loaded on first use: most runs need no backup's stat
}

type backupInfo struct {
	size  int64
	mtime time.Time
}

func (b *backup) stat() *backupInfo {
	if b.info == nil {
		b.info = &backupInfo{}
		if b.ent != nil {
			if fi, err := b.ent.Info(); err == nil {
				b.info.size, b.info.mtime = fi.Size(), fi.ModTime()
			}
		}
	}
	return b.info
}

// size and mtime are the backup's, from one lstat on first use.
func (b *backup) size() int64      { return b.stat().size }
func (b *backup) mtime() time.Time { return b.stat().mtime }

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

// dirIndex is one listing of a log directory, indexed by the live log
// each backup belongs to, so that a run over thousands of logs reads each
// directory once and finds a log's backups without scanning it again.
type dirIndex struct {
	dir      string
	ents     []os.DirEntry
	names    map[string]os.DirEntry
	numbered map[string][]int // live base -> entries of its log.N[.ext]
	dated    map[string][]int // live base -> entries of its log-STAMP[.ext]
	temps    []int            // our temporary files
}

// readDirIndex lists dir once and indexes it.
func readDirIndex(dir string) (*dirIndex, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	x := &dirIndex{dir: dir, ents: ents, names: make(map[string]os.DirEntry, len(ents)),
		numbered: map[string][]int{}, dated: map[string][]int{}}
	for i, e := range ents {
		n := e.Name()
		x.names[n] = e
		if !e.Type().IsRegular() {
			continue
		}
		if strings.Contains(n, ".tend-tmp") {
			x.temps = append(x.temps, i)
			continue
		}
		stem, _ := splitCodec(n)
		if j := strings.LastIndexByte(stem, '.'); j > 0 && digits(stem[j+1:]) {
			x.numbered[stem[:j]] = append(x.numbered[stem[:j]], i)
		}
		// log-YYYYMMDD or log-YYYYMMDD-HHMMSS
		if j := strings.LastIndexByte(stem, '-'); j > 0 {
			base := stem[:j]
			if len(stem)-j-1 == 6 && digits(stem[j+1:]) {
				if k := strings.LastIndexByte(base, '-'); k > 0 && len(base)-k-1 == 8 {
					base = base[:k]
				}
			}
			x.dated[base] = append(x.dated[base], i)
		}
	}
	return x, nil
}

// backups returns the backups of the live log named base, newest first.
func (x *dirIndex) backups(base string, dateExt bool) []backup {
	idx := x.numbered[base]
	if dateExt {
		idx = x.dated[base]
	}
	var out []backup
	for _, i := range idx {
		e := x.ents[i]
		b, ok := parseBackup(base, e.Name(), dateExt)
		if !ok {
			continue
		}
		b.path, b.ent = filepath.Join(x.dir, e.Name()), e
		out = append(out, b)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if dateExt {
			return out[i].stamp > out[j].stamp
		}
		return out[i].index < out[j].index
	})
	return out
}

// tempsOf returns the temporary files an interrupted run left next to the
// live log named base (compressions and copies never renamed into place).
func (x *dirIndex) tempsOf(base string) []string {
	var out []string
	for _, i := range x.temps {
		if n := x.ents[i].Name(); strings.HasPrefix(n, "."+base) {
			out = append(out, filepath.Join(x.dir, n))
		}
	}
	return out
}

// listBackups returns the backups of the live log at path, newest first.
func listBackups(path string, dateExt bool) ([]backup, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	x, err := readDirIndex(dir)
	if err != nil {
		return nil, err
	}
	return x.backups(base, dateExt), nil
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
