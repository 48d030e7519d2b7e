"""The `airlock` command."""

import sys

# Same as in airlock.sdk.api: keep httpx from importing its own CLI (rich, click, pygments) in
# every Airlock process; set before anything (Litestar, uvicorn, our clients) imports httpx.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
