"""Assets and asset expressions: what tasks produce and what DAGs wait for.

``Asset("orders")`` and ``Asset(uri="s3://bucket/orders")`` each name an asset (a missing name
defaults to the URI and vice versa, as in Airflow). ``a & b`` waits for both, ``a | b`` for
either; lists in ``schedule=[a, b]`` mean *all*. ``AssetWatcher`` attaches an event trigger that
creates asset events from an external system.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from airlock.sdk.bases.trigger import BaseEventTrigger
from airlock.sdk.exceptions import DagDefinitionError

_MAX_LENGTH = 1500
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


class BaseAsset:
    """Something that can appear in an asset condition."""

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def iter_assets(self) -> Iterator[Asset]:
        """Every concrete asset in this condition."""
        return iter(())

    def iter_aliases(self) -> Iterator[AssetAlias]:
        return iter(())


def _check_identifier(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DagDefinitionError(f"asset {kind} must be a non-empty string, got {value!r}")
    if len(value) > _MAX_LENGTH:
        raise DagDefinitionError(
            f"asset {kind} {value[:40]!r}… is {len(value)} characters; at most {_MAX_LENGTH}"
        )
    if not value.isascii():
        raise DagDefinitionError(f"asset {kind} {value!r} must be ASCII")
    return value


def _check_uri(uri: str) -> str:
    _check_identifier("uri", uri)
    if "://" in uri:
        scheme = urlsplit(uri).scheme
        if not _SCHEME.match(scheme):
            raise DagDefinitionError(f"asset uri {uri!r} has an invalid scheme {scheme!r}")
        if scheme.lower() in ("airflow", "airlock"):
            raise DagDefinitionError(
                f"asset uri {uri!r} uses the reserved scheme {scheme!r}; pick another scheme"
            )
    return uri


class AssetAccessControl:
    """Airflow 3.3's cross-team filter of an asset's events (which producer teams may trigger
    its consumers), named here so a ported file imports. Airlock has no team of a DAG to filter
    by — a team is a set of bundles a *user* may see, and any bundle's task may update any
    asset — so an ``Asset(access_control=...)`` fails its DAG's parse, by name."""

    def __init__(
        self, producer_teams: list[str] | None = None, allow_global: bool = True, **kwargs: Any
    ) -> None:
        self.producer_teams = list(producer_teams or [])
        self.allow_global = allow_global
        self.kwargs = kwargs


class Asset(BaseAsset):
    """A piece of data a task updates (``outlets``) or a DAG is scheduled on."""

    #: Made by ``Asset.ref(name=...)``: the control plane resolves it by name.
    name_only = False

    def __init__(
        self,
        name: str | None = None,
        uri: str | None = None,
        *,
        group: str = "asset",
        extra: dict[str, Any] | None = None,
        watchers: list[AssetWatcher] | None = None,
        access_control: Any = None,
    ) -> None:
        #: Why a DAG using this asset cannot be stored (it is that DAG's parse error, so the
        #: file's other DAGs still load); None when it can.
        self.unsupported: str | None = None
        if access_control is not None:
            self.unsupported = (
                f"asset {name or uri!r}: access_control= is not supported; Airlock does not "
                "filter an asset's events by the producing DAG's team (a team is the bundles a "
                "user may see; any bundle's task may update any asset, and people see the "
                "assets their bundles' DAGs use); remove access_control, and keep producers "
                "you do not trust from writing to the asset's URI"
            )
        if name is None and uri is None:
            raise DagDefinitionError("an Asset needs a name, a uri, or both")
        self.name = _check_identifier("name", name if name is not None else str(uri))
        self.uri = _check_uri(uri if uri is not None else self.name)
        self.group = group
        self.extra: dict[str, Any] = dict(extra or {})
        self.watchers: list[AssetWatcher] = list(watchers or [])
        for watcher in self.watchers:
            if not isinstance(watcher, AssetWatcher):
                raise DagDefinitionError(
                    f"asset {self.name!r}: watchers must be AssetWatcher objects, "
                    f"got {type(watcher).__name__}"
                )

    @classmethod
    def ref(cls, *, name: str | None = None, uri: str | None = None) -> Asset:
        """An asset defined elsewhere. ``uri=`` names it exactly. ``name=`` alone may be
        scheduled on: the control plane matches it against the assets it knows by that name
        (defined in any bundle, before or after this DAG). A task cannot update or read such a
        reference (no URI to write to), so as an outlet or inlet it fails the DAG's parse,
        naming it."""
        if name is None and uri is None:
            raise DagDefinitionError("Asset.ref needs name= or uri=")
        if uri is not None:
            return cls(name=name or uri, uri=uri)
        asset = cls(name=name)
        asset.name_only = True
        asset.unsupported = (
            f"Asset.ref(name={name!r}) names an asset without its uri: a DAG may be scheduled "
            "on it, but a task's outlets and inlets need the uri; write Asset.ref(uri=...) or "
            f"Asset(name={name!r}, uri=...)"
        )
        return asset

    def iter_assets(self) -> Iterator[Asset]:
        yield self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and (other.name, other.uri, other.group) == (
            self.name,
            self.uri,
            self.group,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.uri, self.group))

    def __repr__(self) -> str:
        return f"Asset(name={self.name!r}, uri={self.uri!r}, group={self.group!r})"


class AssetAlias(BaseAsset):
    """A name that tasks attach concrete assets to at run time."""

    def __init__(self, name: str, group: str = "") -> None:
        self.name = _check_identifier("alias name", name)
        self.group = group

    def iter_aliases(self) -> Iterator[AssetAlias]:
        yield self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetAlias) and (other.name, other.group) == (
            self.name,
            self.group,
        )

    def __hash__(self) -> int:
        return hash(("alias", self.name, self.group))

    def __repr__(self) -> str:
        return f"AssetAlias(name={self.name!r}, group={self.group!r})"


class _AssetBooleanCondition(BaseAsset):
    def __init__(self, *objects: BaseAsset) -> None:
        for obj in objects:
            if not isinstance(obj, BaseAsset):
                raise DagDefinitionError(
                    f"{type(self).__name__} takes assets, aliases or asset conditions, "
                    f"got {type(obj).__name__} {obj!r}"
                )
        self.objects: list[BaseAsset] = list(objects)

    def iter_assets(self) -> Iterator[Asset]:
        for obj in self.objects:
            yield from obj.iter_assets()

    def iter_aliases(self) -> Iterator[AssetAlias]:
        for obj in self.objects:
            yield from obj.iter_aliases()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.objects == self.objects

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.objects)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class AssetAll(_AssetBooleanCondition):
    """Satisfied once every member has an event (``a & b``)."""

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(*self.objects, other)


class AssetAny(_AssetBooleanCondition):
    """Satisfied once any member has an event (``a | b``)."""

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(*self.objects, other)


class AssetWatcher:
    """Runs ``trigger`` in the triggerer; each event it yields becomes an event of the asset."""

    def __init__(self, name: str, trigger: BaseEventTrigger) -> None:
        if not isinstance(trigger, BaseEventTrigger):
            raise DagDefinitionError(
                f"AssetWatcher {name!r}: trigger must be a BaseEventTrigger (an event trigger "
                f"that reports each external event once), got {type(trigger).__name__}"
            )
        self.name = name
        self.trigger = trigger

    def __repr__(self) -> str:
        return f"AssetWatcher(name={self.name!r}, trigger={self.trigger!r})"


class Metadata:
    """What a task ``yield``s to attach ``extra`` to the event of its outlet ``asset``
    (``alias``: emit that event through an alias outlet); the task's return value is then the
    generator's ``return`` value."""

    def __init__(
        self, asset: Asset, extra: dict[str, Any], alias: AssetAlias | None = None
    ) -> None:
        if not isinstance(asset, Asset):
            raise TypeError(f"Metadata needs an Asset, got {asset!r}")
        self.asset = asset
        self.extra = dict(extra)
        self.alias = alias

    def __repr__(self) -> str:
        return f"Metadata({self.asset!r}, {self.extra!r}, alias={self.alias!r})"
