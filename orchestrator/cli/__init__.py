"""The `jdnas` commands: argument parsing and the one-line errors before any cluster work starts."""
