// Package rotate rotates log files: the Rotator for files written by other
// processes (logrotate's job, without its loss window) and the Writer, an
// io.WriteCloser for Go programs that rotates without stalls.
package rotate
