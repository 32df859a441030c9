//go:build race

package rotate

// raceEnabled shortens the stress tests under -race, which slows the
// helper processes and copies tenfold.
const raceEnabled = true
