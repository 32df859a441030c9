package rotate

import (
	"testing"
)

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":{"/var/log/a.log":{"last_rotated":"2025-01-02T03:04:05Z"}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte("\x00{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if st.Files == nil {
			t.Fatal("a parse never leaves Files nil, even on error")
		}
		if err != nil && len(st.Files) != 0 {
			t.Fatal("a damaged state yields an empty one")
		}
	})
}

func FuzzParseBackup(f *testing.F) {
	f.Add("app.log", "app.log.3.gz", false)
	f.Add("app.log", "app.log-20250102-030405.zst", true)
	f.Add("app.log", "app.log.01", false)
	f.Fuzz(func(t *testing.T, base, name string, dated bool) {
		b, ok := parseBackup(base, name, dated)
		if !ok {
			return
		}
		var again string
		if dated {
			again = base + "-" + b.stamp + b.ext
		} else {
			again = numberedName(base, b.index, b.ext)
		}
		if again != name {
			t.Fatalf("parse(%q) = %+v, renders back as %q", name, b, again)
		}
	})
}
