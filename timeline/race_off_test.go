//go:build !race

package timeline_test

const raceEnabled = false
