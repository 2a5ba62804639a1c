"""The command line and the tools at the edge: subcommands, the demo, benches and the soak run."""
