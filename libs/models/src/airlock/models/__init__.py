"""The shapes every Airlock process agrees on: msgspec Structs for each API's payloads, the
serialized DAG, task and run states, the zstd-compressed codec, and the API versions with their
migration gates. Imports nothing of Airlock, so the SDK, workers and services all depend on it."""
