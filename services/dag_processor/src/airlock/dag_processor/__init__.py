"""Airlock DAG processor: parses bundle files in child processes, never in itself, and writes
only through the Internal API (DESIGN §4.1)."""
