"""One module per `airlock` subcommand."""
