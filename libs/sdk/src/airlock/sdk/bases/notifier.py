"""``BaseNotifier``: a callback written as a class, so one notifier serves many DAGs.

A notifier is a callable: pass an instance wherever a callback goes
(``on_failure_callback=SlackishNotifier(text="{{ dag.dag_id }} failed")``). When the callback
processor calls it with the callback's context, the attributes named in ``template_fields`` are
rendered with that context (on a copy: the same notifier may serve several events in one
process) and :meth:`notify` receives the context.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from airlock.sdk.definitions.templater import Templater


class BaseNotifier(Templater):
    """Subclass it, name the attributes to render in ``template_fields``, implement
    :meth:`notify`."""

    template_fields: Sequence[str] = ()

    def notify(self, context: Mapping[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement notify(context)")

    def __call__(self, context: Mapping[str, Any]) -> None:
        rendered = copy.copy(self)
        dag = context.get("dag")
        env = dag.get_template_env() if dag is not None else None
        rendered.render_template_fields(context, env)
        rendered.notify(context)
