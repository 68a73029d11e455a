//go:build race

package controller

// raceEnabled scales the long property test down under the race detector.
const raceEnabled = true
