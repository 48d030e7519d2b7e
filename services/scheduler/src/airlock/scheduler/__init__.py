"""The Airlock scheduler service."""
