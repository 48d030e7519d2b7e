"""The Airlock worker: pulls workloads from the Execution API, runs each task in a supervised
child process that never holds a token."""
