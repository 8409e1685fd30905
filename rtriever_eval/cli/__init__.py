"""Console entry points: thin wrappers that parse arguments and turn InputError into a message and exit code."""
