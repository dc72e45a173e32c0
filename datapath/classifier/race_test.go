//go:build race

package classifier

// raceEnabled shortens the randomized tests under the race detector, which slows them tenfold
// without finding more there: their goroutine is alone.
const raceEnabled = true
