"""DAG params: named run-time inputs with a default and a JSON schema, as in Airflow.

``Param(5, type="integer", minimum=0)`` declares a param; ``{{ params.x }}`` and
``context["params"]["x"]`` read its value. Defaults are checked while the DAG file is parsed,
values passed when a run is triggered are checked before the run starts.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from airlock.sdk.definitions._schema import schema_errors
from airlock.sdk.exceptions import ParamValidationError


class _NotSet:
    """The absence of a value (``None`` is a value)."""

    _instance: _NotSet | None = None

    def __new__(cls) -> _NotSet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _NotSet:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NotSet:
        return self


NOTSET: Any = _NotSet()


def _dates_as_text(value: Any) -> Any:
    """Dates, datetimes and times (pendulum's included) as ISO 8601 strings, as a run's conf
    carries them; JSON schemas check them with ``format: date`` / ``date-time`` / ``time``."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


class Param:
    """A param's default, its JSON schema (the keyword arguments) and its description."""

    def __init__(self, default: Any = NOTSET, description: str | None = None, **schema: Any):
        self.value = _dates_as_text(default)
        self.description = description
        self.schema: dict[str, Any] = schema

    @property
    def has_value(self) -> bool:
        return self.value is not NOTSET

    def resolve(self, value: Any = NOTSET, suppress_exception: bool = False) -> Any:
        """Return ``value`` (or the default) after checking it against the schema."""
        final = self.value if value is NOTSET else _dates_as_text(value)
        if final is NOTSET:
            if suppress_exception:
                return None
            raise ParamValidationError(
                "no value given and the param has no default; pass one in the run's conf "
                "or give the Param a default"
            )
        errors = schema_errors(final, self.schema)
        if errors and not suppress_exception:
            raise ParamValidationError("; ".join(errors))
        return final

    def dump(self) -> dict[str, Any]:
        return {"value": self.value, "description": self.description, "schema": self.schema}

    def __copy__(self) -> Param:
        return Param(self.value, self.description, **self.schema)

    def __repr__(self) -> str:
        return f"Param({self.value!r}, description={self.description!r}, schema={self.schema!r})"


class ParamsDict(MutableMapping[str, Any]):
    """Param name → :class:`Param`; reading an item gives the param's checked value."""

    def __init__(self, params: Mapping[str, Any] | None = None, suppress_exception: bool = False):
        self._params: dict[str, Param] = {}
        self.suppress_exception = suppress_exception
        for key, value in (params or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            self._params[key] = value
        elif key in self._params:
            param = self._params[key]
            try:
                param.resolve(value, suppress_exception=self.suppress_exception)
            except ParamValidationError as exc:
                raise ParamValidationError(f"invalid value for param '{key}': {exc}") from None
            param.value = _dates_as_text(value)
        else:
            self._params[key] = Param(value)

    def __getitem__(self, key: str) -> Any:
        param = self._params[key]
        try:
            return param.resolve(suppress_exception=self.suppress_exception)
        except ParamValidationError as exc:
            raise ParamValidationError(f"invalid value for param '{key}': {exc}") from None

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def __repr__(self) -> str:
        return f"ParamsDict({self._params!r})"

    def get_param(self, key: str) -> Param:
        return self._params[key]

    def items_params(self) -> Iterator[tuple[str, Param]]:
        return iter(self._params.items())

    def copy(self) -> ParamsDict:
        return ParamsDict(
            {k: copy.copy(p) for k, p in self._params.items()}, self.suppress_exception
        )

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        items = other.items_params() if isinstance(other, ParamsDict) else dict(other).items()
        for key, value in items:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def dump(self) -> dict[str, Any]:
        return {k: p.resolve(suppress_exception=True) for k, p in self._params.items()}

    def validate(self) -> dict[str, Any]:
        """Every param's checked value; raises on the first invalid or missing one."""
        return {key: self[key] for key in self._params}
