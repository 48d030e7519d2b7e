"""The callback processor (processing zone): runs the callbacks users wrote, and only through the
Internal API — it leases callback requests, runs each in a supervised child process that holds
no token, and reports how each attempt ended (DESIGN §4.4, ADR 0015)."""
