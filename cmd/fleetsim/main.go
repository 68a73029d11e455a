// Command fleetsim replays a week of jobs through the fleet's scaling in
// simulated time and prints cost, modelled queue-to-start time and killed jobs.
// See docs/simulator.md.
package main

import (
	"os"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
