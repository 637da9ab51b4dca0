"""Models: the timestep protocol, the PC wrapper, builders and the built-in zoo."""
