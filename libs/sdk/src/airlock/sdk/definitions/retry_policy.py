"""Retry policies (Airflow 3.3's ``retry_policy=``): decide, from the exception a try raised,
whether the task is retried, after how long, or fails at once.

A policy is task code: it is evaluated in the worker's task process, right after the failure,
with the exception itself (the control plane never runs it, and never sees more than its
decision). The decision travels with the failed outcome: ``FAIL`` ends the task without using
its remaining retries; ``RETRY`` with a ``retry_delay`` retries after that delay instead of the
task's own (only while retries remain: the policy never adds tries); ``DEFAULT`` — and any
exception no rule matches — keeps the task's ``retries`` / ``retry_delay`` behaviour.
"""

from __future__ import annotations

import enum
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

log = logging.getLogger("airlock.task")

#: Longest reason kept (it lands in the task's error and log).
MAX_REASON_LENGTH = 500


class RetryAction(enum.StrEnum):
    RETRY = "retry"
    FAIL = "fail"
    DEFAULT = "default"


@dataclass(frozen=True)
class RetryDecision:
    """What a policy decided for one failure."""

    action: RetryAction = RetryAction.DEFAULT
    retry_delay: timedelta | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", RetryAction(self.action))
        if self.retry_delay is not None and not isinstance(self.retry_delay, timedelta):
            raise TypeError(f"retry_delay must be a timedelta, got {self.retry_delay!r}")
        if self.retry_delay is not None and self.retry_delay < timedelta(0):
            raise ValueError(f"retry_delay must not be negative, got {self.retry_delay!r}")
        if self.reason is not None and len(self.reason) > MAX_REASON_LENGTH:
            object.__setattr__(self, "reason", self.reason[: MAX_REASON_LENGTH - 1] + "…")


class RetryPolicy:
    """Subclass and implement :meth:`evaluate` for a policy of your own."""

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any
    ) -> RetryDecision:
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate()")


ExceptionSpec = type[BaseException] | str


@dataclass(frozen=True)
class RetryRule:
    """Matches an exception by class or dotted name (``"requests.exceptions.HTTPError"``), or by
    any of a list of them; subclasses match too unless ``match_subclasses=False``."""

    exception: ExceptionSpec | Sequence[ExceptionSpec]
    action: RetryAction = RetryAction.RETRY
    retry_delay: timedelta | None = None
    reason: str | None = None
    match_subclasses: bool = True
    _specs: tuple[ExceptionSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = self.exception
        specs = tuple(raw) if isinstance(raw, list | tuple) else (raw,)
        for spec in specs:
            is_class = isinstance(spec, type) and issubclass(spec, BaseException)
            if not is_class and not (isinstance(spec, str) and spec):
                raise TypeError(
                    f"RetryRule exception must be an exception class or its dotted name, got "
                    f"{spec!r}"
                )
        object.__setattr__(self, "_specs", specs)
        object.__setattr__(self, "action", RetryAction(self.action))
        RetryDecision(self.action, self.retry_delay, self.reason)  # same checks

    def matches(self, exception: BaseException) -> bool:
        return any(self._match(spec, exception) for spec in self._specs)

    def _match(self, spec: ExceptionSpec, exception: BaseException) -> bool:
        classes = type(exception).__mro__ if self.match_subclasses else (type(exception),)
        if isinstance(spec, str):
            return any(f"{c.__module__}.{c.__qualname__}" == spec for c in classes) or (
                _resolve(spec) in classes
            )
        return spec in classes

    def decision(self) -> RetryDecision:
        return RetryDecision(self.action, self.retry_delay, self.reason)


def _resolve(dotted: str) -> type | None:
    """The class a dotted name names, when its module is importable (``builtins.ValueError`` and
    re-exported names match this way); None otherwise."""
    module, _, name = dotted.rpartition(".")
    if not module:
        module = "builtins"
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if isinstance(found, type) else None


class ExceptionRetryPolicy(RetryPolicy):
    """The first rule that matches the exception decides; none matching means ``default``."""

    def __init__(
        self, rules: Sequence[RetryRule], default: RetryAction = RetryAction.DEFAULT
    ) -> None:
        if not all(isinstance(r, RetryRule) for r in rules):
            raise TypeError(f"ExceptionRetryPolicy rules must be RetryRule objects, got {rules!r}")
        self.rules = list(rules)
        self.default = RetryAction(default)

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any
    ) -> RetryDecision:
        for rule in self.rules:
            if rule.matches(exception):
                return rule.decision()
        return RetryDecision(self.default)

    def __repr__(self) -> str:
        return f"ExceptionRetryPolicy({self.rules!r}, default={self.default!r})"


def decide_retry(
    policy: RetryPolicy | None,
    exception: BaseException,
    try_number: int,
    max_tries: int,
    context: Any,
) -> RetryDecision:
    """``policy``'s decision for this failure, as the runtime applies it: a policy that raises,
    or a ``RETRY`` once the retries are used up, is ``DEFAULT``."""
    if policy is None:
        return RetryDecision()
    try:
        decision = policy.evaluate(exception, try_number, max_tries, context)
    except Exception:
        log.exception("The retry policy %r failed; the task's own retry settings apply", policy)
        return RetryDecision()
    if not isinstance(decision, RetryDecision):
        log.error(
            "The retry policy %r returned %r, not a RetryDecision; the task's own retry "
            "settings apply",
            policy,
            decision,
        )
        return RetryDecision()
    if decision.action is RetryAction.RETRY and try_number > max_tries:
        return RetryDecision(reason=decision.reason)
    return decision
