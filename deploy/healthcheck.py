"""Container healthcheck for Airlock's images: GET an API's health endpoint and exit 0 when it
answers 200, 1 otherwise (the reason on stderr). Standard library only: the slim images have
neither curl nor Airlock's control-plane packages.

    healthcheck.py URL                   probe URL itself (an API probing its own port)
    healthcheck.py --setting NAME[,NAME...] PATH
                                         probe the URL held by the first of the environment
                                         variables that is set, plus PATH (a worker or
                                         processing service probing the one API its zone may
                                         reach)
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 5


def target(argv: list[str]) -> str:
    if len(argv) == 1 and not argv[0].startswith("-"):
        return argv[0]
    if len(argv) == 3 and argv[0] == "--setting":
        names = argv[1].split(",")
        base = next((os.environ[n] for n in names if os.environ.get(n)), None)
        if not base:
            raise SystemExit(f"healthcheck: none of {', '.join(names)} is set")
        return base.rstrip("/") + "/" + argv[2].lstrip("/")
    raise SystemExit("usage: healthcheck.py URL | healthcheck.py --setting NAME[,NAME...] PATH")


def main(argv: list[str]) -> int:
    url = target(argv)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
