"""Airlock."""
