// Package bench holds tend's side-by-side comparisons with its peers (find,
// systemd-tmpfiles, logrotate, lumberjack, docker, shell scripts). It is a
// separate module so peer dependencies stay out of tend's go.mod. Each
// comparison is a program under cmd/ that prints one line per comparison:
//
//	NAME ratio=X (tend A vs peer B)
//
// and `bench/run` runs them all.
package bench
