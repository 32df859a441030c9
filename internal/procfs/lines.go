package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLine caps one line of a proc file: a path of PATH_MAX bytes, every
// one escaped as \ooo, twice in a mountinfo line, fits.
const MaxLine = 64 << 10

// ErrLineTooLong is wrapped by the error for a line over MaxLine.
var ErrLineTooLong = errors.New("line too long")

// eachLine calls fn with every line of r (without its newline), holding
// one line at a time. fn's error stops the scan and is returned.
func eachLine(r io.Reader, fn func(line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for n := 1; sc.Scan(); n++ {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, MaxLine)
		}
		return err
	}
	return nil
}

// readLines opens path and parses it with parse, naming path in errors.
func readLines(path string, parse func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := parse(f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
