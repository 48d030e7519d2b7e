"""Errors the CLI reports as one line on stderr with exit code 2, no traceback."""


class CliError(Exception):
    pass
