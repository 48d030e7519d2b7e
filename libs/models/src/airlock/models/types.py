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

__all__ = ["AwareDatetime"]
