//go:build !race

package cleanup_test

// raceMemFactor scales the children's memory limits under the race
// detector, whose shadow memory is counted in their data segment.
const raceMemFactor = 1
