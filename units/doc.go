// Package units parses and prints the sizes, durations and percentages that
// tend's packages take in their exported APIs and read from config and
// quota spec files ([Size] in quota.QuotaSpec and quota.Host,
// [Percent] in health.Memory, durations in cleanup and rotate rules).
// Import it to fill those fields from your own code or flags.
//
// Sizes are bytes or binary units: k/m/g/t (and kb/mb/gb/tb) as docker and
// logrotate read them, Ki/Mi/Gi/Ti and KiB/MiB/GiB/TiB; unit letters are case
// insensitive, so "6g", "6G", "6Gi" and "6GiB" are all 6*2^30 bytes. A decimal
// mantissa is accepted only when it names a whole number of bytes ("1.5GiB"
// yes, "0.3k" no). [Size.String] prints the exact form that [ParseSize]
// reads back; [Size.Human] rounds for reports.
//
// Durations are Go durations extended with d (24h) and w (7 days):
// [ParseDuration] reads "7d" or "1w2d", [FormatDuration] prints them back.
// Percentages are 0 to 100, with or without the % sign ([ParsePercent]).
//
// Overflow, negative values, exponents and unknown units are errors that
// quote the bad text and wrap [ErrSyntax].
package units
