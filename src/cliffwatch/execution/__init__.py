"""Where lineages run: planning, executors (in-process, local processes) and the run store."""
