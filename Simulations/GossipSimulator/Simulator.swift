// The discrete-event simulator; see Docs/SIMULATION.md.
