"""Airlock triggerer: runs the async triggers of deferred tasks in a supervised child process,
never in itself, and talks to Airlock only through the Internal API (DESIGN §4.3, §8)."""
