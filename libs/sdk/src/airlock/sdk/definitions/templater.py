"""Jinja rendering of operator ``template_fields``.

Before ``execute`` runs, the runtime calls ``task.render_template_fields(context)``: every
attribute named in ``template_fields`` is rendered with the task's context (``ds``, ``params``,
``ti``, ``var`` …). Strings are Jinja templates; a string ending with one of ``template_ext``
(``.sh``, ``.sql`` …) names a template *file*, looked up in the DAG file's folder and the DAG's
``template_searchpath``. Lists, tuples, sets and dict values are rendered item by item; an
``XComArg`` is pulled from XCom; ``literal(x)`` is left as it is. Jinja is imported only when
something is rendered, so parsing DAG files does not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airlock.sdk.definitions.mixins import ResolveMixin

if TYPE_CHECKING:
    import jinja2

    from airlock.sdk.definitions.dag import DAG


class literal:
    """Wrap a value so that templating leaves it untouched (``literal("{{ not rendered }}")``)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"literal({self.value!r})"


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


FILTERS: dict[str, Callable[[datetime], str]] = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


def create_template_env(
    *,
    searchpath: Sequence[str] = (),
    native: bool = False,
    user_defined_macros: Mapping[str, Any] | None = None,
    user_defined_filters: Mapping[str, Any] | None = None,
    jinja_environment_kwargs: Mapping[str, Any] | None = None,
) -> jinja2.Environment:
    """A Jinja environment like Airflow's: strict undefined, ``do`` extension, date filters."""
    import jinja2
    import jinja2.nativetypes

    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(list(searchpath)),
        "undefined": jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0,
        "keep_trailing_newline": True,
    }
    options.update(jinja_environment_kwargs or {})
    env_class = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    env = env_class(**options)
    env.filters.update(FILTERS)
    env.filters.update(user_defined_filters or {})
    env.globals.update(user_defined_macros or {})
    return env


class Templater:
    """Mixin that renders the attributes named in ``template_fields``."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    template_fields_renderers: dict[str, str] = {}

    def get_dag(self) -> DAG | None:
        return None

    def get_template_env(self, dag: DAG | None = None) -> jinja2.Environment:
        dag = dag or self.get_dag()
        if dag is not None:
            return dag.get_template_env()
        return create_template_env(searchpath=[os.getcwd()])

    def render_template_fields(
        self, context: Mapping[str, Any], jinja_env: jinja2.Environment | None = None
    ) -> None:
        """Render every template field in place (a task with none set makes no Jinja
        environment: most ``@task`` functions take no templated arguments)."""
        env = jinja_env
        for name in self.template_fields:
            value = getattr(self, name)
            if value:
                env = env or self.get_template_env()
                setattr(self, name, self.render_template(value, context, env, set()))

    def render_template(
        self,
        content: Any,
        context: Mapping[str, Any],
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render ``content``: strings as Jinja, containers item by item, XComArgs pulled."""
        env = jinja_env or self.get_template_env()
        seen = seen_oids if seen_oids is not None else set()
        if isinstance(content, str):
            if self.template_ext and content.endswith(tuple(self.template_ext)):
                return env.get_template(content).render(**context)
            return env.from_string(content).render(**context)
        if isinstance(content, literal):
            return content.value
        if isinstance(content, ResolveMixin):
            return content.resolve(context)
        if isinstance(content, tuple):
            if type(content) is not tuple:  # a namedtuple keeps its type
                return type(content)(
                    *(self.render_template(v, context, env, seen) for v in content)
                )
            return tuple(self.render_template(v, context, env, seen) for v in content)
        if isinstance(content, list):
            return [self.render_template(v, context, env, seen) for v in content]
        if isinstance(content, dict):
            return {k: self.render_template(v, context, env, seen) for k, v in content.items()}
        if isinstance(content, set):
            return {self.render_template(v, context, env, seen) for v in content}
        nested = getattr(content, "template_fields", None)
        if nested and id(content) not in seen:
            seen.add(id(content))
            for name in nested:
                value = getattr(content, name)
                setattr(content, name, self.render_template(value, context, env, seen))
        return content
