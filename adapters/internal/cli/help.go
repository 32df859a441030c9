package cli

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// PrintFlags writes the flags of fs as the adapters' --help shows them:
// "--name PLACEHOLDER" on one line, the usage indented below, and the
// default once: "(default x)" is added only when the flag has a non-zero
// default and its usage does not already state one. The placeholder is the
// word in backquotes in the usage ("config `FILE`"); a flag that takes a
// value must name one, or PrintFlags writes VALUE.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if !isBool(f) {
			if arg == "" || strings.ToUpper(arg) != arg {
				arg = "VALUE"
			}
			line += " " + arg
		}
		if !zeroDefault(f) && !strings.Contains(usage, "(default") {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, strings.ReplaceAll(usage, "\n", "\n      "))
	})
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func zeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return true
	}
	return false
}

// flagLine is a flag's first line in PrintFlags' output.
var flagLine = regexp.MustCompile(`^  --?[a-z][a-z0-9-]*( (\S+))?$`)

// placeholder is a value's name as --help shows it.
var placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// HelpProblems checks the flag part of a --help text (what PrintFlags
// writes) and lists what is wrong: a placeholder that is a Go type name or
// not a capitalised word ("string", "duration", "users:"), or a flag whose
// text states its default more than once. Tests of each adapter call it on
// the adapter's --help.
func HelpProblems(help string) []string {
	var problems []string
	var name, block string
	flush := func() {
		if name != "" && strings.Count(block, "(default") > 1 {
			problems = append(problems, fmt.Sprintf("%s states its default more than once: %q", name, strings.TrimSpace(block)))
		}
	}
	for _, l := range strings.Split(help, "\n") {
		m := flagLine.FindStringSubmatch(l)
		if m == nil {
			if name != "" && strings.HasPrefix(l, "    ") {
				block += l
			}
			continue
		}
		flush()
		name, block = strings.Fields(l)[0], ""
		if arg := m[2]; arg != "" && !placeholder.MatchString(arg) {
			problems = append(problems, fmt.Sprintf("%s has the placeholder %q: name the value in capitals (`FILE`, `DURATION`)", name, arg))
		}
	}
	flush()
	if name == "" {
		problems = append(problems, "no flags found in the help text")
	}
	return problems
}
