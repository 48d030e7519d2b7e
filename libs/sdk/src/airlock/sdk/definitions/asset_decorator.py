"""``@asset`` and ``@asset.multi``: an asset defined by the function that materializes it.

``@asset(schedule="@daily")`` on ``def orders(): ...`` makes three things of one name: the
``Asset`` ``orders`` (usable in other DAGs' schedules and outlets), a DAG ``orders`` on that
schedule, and its one task ``orders``, which runs the function with the asset as its outlet.
``@asset.multi(outlets=[a, b], schedule=...)`` makes a DAG and task named after the function that
updates several assets. The function may take ``self`` (the asset; for ``multi``, the list of
outlets) and any context key (``context`` for the whole context), as a ``@task`` does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.asset import Asset
from airlock.sdk.definitions.dag import DAG
from airlock.sdk.exceptions import DagDefinitionError

#: ``@asset(...)`` arguments that describe the asset; the others go to its DAG.
_ASSET_ARGS = ("uri", "group", "extra", "watchers")


def _build_dag(
    dag_id: str, function: Callable[..., Any], outlets: list[Asset], self_value: Any, **kwargs: Any
) -> DAG:
    from airlock.sdk.operators.python import PythonOperator

    kwargs.setdefault("schedule", None)
    kwargs.setdefault("doc_md", inspect.getdoc(function))
    kwargs.setdefault("fileloc", inspect.getsourcefile(function) or "")
    wants_self = "self" in inspect.signature(function).parameters
    with DAG(dag_id, **kwargs) as dag:
        PythonOperator(
            task_id=dag_id,
            python_callable=function,
            op_kwargs={"self": self_value} if wants_self else {},
            outlets=outlets,
        )
    return dag


class AssetDefinition(Asset):
    """An asset with the DAG that materializes it (:attr:`dag`)."""

    def __init__(self, function: Callable[..., Any], **arguments: Any) -> None:
        asset_args = {k: arguments.pop(k) for k in _ASSET_ARGS if k in arguments}
        name = arguments.pop("name", None) or function.__name__
        super().__init__(name=name, **asset_args)
        self.function = function
        self.dag = _build_dag(name, function, [self], self, **arguments)


class MultiAssetDefinition:
    """A function that updates several assets, with its DAG (:attr:`dag`)."""

    def __init__(self, function: Callable[..., Any], outlets: list[Asset], **dag_kwargs: Any):
        if not outlets or not all(isinstance(o, Asset) for o in outlets):
            raise DagDefinitionError(
                f"@asset.multi on {function.__name__!r} needs outlets=[Asset(...), ...], "
                f"got {outlets!r}"
            )
        self.function = function
        self.outlets = list(outlets)
        self.dag = _build_dag(function.__name__, function, self.outlets, self.outlets, **dag_kwargs)


class _AssetDecorator:
    """``@asset(...)`` (or bare ``@asset``), with ``.multi``."""

    def __call__(self, function: Callable[..., Any] | None = None, **arguments: Any) -> Any:
        if function is not None:
            return AssetDefinition(function, **arguments)
        return lambda f: AssetDefinition(f, **arguments)

    def multi(self, *, outlets: list[Asset], **dag_kwargs: Any) -> Any:
        return lambda f: MultiAssetDefinition(f, outlets, **dag_kwargs)


asset = _AssetDecorator()
