"""Constrained scalar types shared by every wire payload.

A constraint written in the type is checked by msgspec while the payload decodes, so every
endpoint refuses the same bad value with the same 422, before a handler runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

#: An instant with its offset. JSON has no datetime type, and a timestamp without an offset
#: could be anyone's local time: such a value is refused, never guessed.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

#: A DAG id (and the like): letters, digits, ``_``, ``.`` and ``-``, starting with a letter, digit
#: or ``_`` — Airflow's rule, so no id can name a path, hold markup or hide a control character.
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=250, pattern=r"^[^\W][\w.-]*\Z")]

#: A file's path inside a bundle: relative, ``/``-separated, with no ``..`` segment, backslash or
#: control character, so joining it to the bundle's folder cannot leave the folder.
BundlePath = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=1000, pattern=r"^(?!/)(?!(?:.*/)?\.\.(?:/|\Z))[^\x00-\x1f\\]+\Z"
    ),
]

__all__ = ["AwareDatetime", "BundlePath", "Identifier"]
