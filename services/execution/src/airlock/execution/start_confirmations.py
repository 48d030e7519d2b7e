"""``POST /execution/workloads/confirm``: a worker confirms the tasks a poll started for it.

A task the hand-out starts stays an *unconfirmed start* until its worker says it received it
(ADR 0020); the scheduler gives back an unconfirmed start past ``[execution] start_confirm_s``.
Before API version 2026-12-08 each task's first heartbeat confirmed it, one request (and, on
SQLite, one write transaction) per task, which the task waited for before its code ran. Here
the worker confirms every start a poll brought in one request, sent the moment the poll's reply
arrives, and the server applies them in one transaction.

Each start is named by the task token its workload carried: the token says which try and which
hand-out (the claim epoch) it confirms, exactly as that task's own heartbeat would, so a worker
token can confirm only what was handed out with a token it holds. A start whose token is
refused, or that no longer holds (given back, cleared, handed out again), answers
``keep_running: false``, and its task must not run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import require_kind
from airlock.core.tokens import TokenError, TokenKind, TokenVerifier
from airlock.db import TaskInstance
from airlock.models.execution import StartConfirmation, StartConfirmationReply, StartConfirmed
from airlock.models.task_try import TaskTry
from airlock.scheduling.heartbeats import record_heartbeat


@post(
    "/workloads/confirm",
    operation_id="ConfirmStarts",
    guards=[require_kind(TokenKind.WORKER)],
    status_code=200,
    tags=["workloads"],
    sync_to_thread=True,
)
def confirm_starts(
    data: JSONBody[StartConfirmation],
    session: NamedDependency[Session],
    token_verifier: NamedDependency[TokenVerifier],
) -> StartConfirmationReply:
    """Confirm the starts the hand-out made for this worker (each named by its task token);
    answer for each whether it holds, in the request's order."""
    now = dt.datetime.now(dt.UTC)
    connection = session.connection()
    answers: list[StartConfirmed | None] = []
    for start in data.starts:
        try:
            claims = token_verifier.verify(start.token, "execution")
        except TokenError as exc:
            answers.append(_refused(start.ti_id, f"its task token was refused: {exc}"))
            continue
        if claims.kind != TokenKind.TASK or claims.sub != start.ti_id:
            answers.append(_refused(start.ti_id, "the token given is not this task's task token"))
            continue
        if claims.claim_epoch is None:
            answers.append(
                _refused(start.ti_id, "the hand-out did not start this task: nothing to confirm")
            )
            continue
        confirmed = record_heartbeat(
            connection,
            TaskTry(start.ti_id, claims.try_number),
            data.hostname,
            data.pid,
            data.pid,
            now,
            claims.claim_epoch,
        )
        answers.append(StartConfirmed(ti_id=start.ti_id, keep_running=True) if confirmed else None)
    session.commit()
    # What does not hold answers with the task's state now (one read for all of them).
    lost = [s.ti_id for s, a in zip(data.starts, answers, strict=True) if a is None]
    states: dict[str, Any] = {}
    if lost:
        rows = session.execute(
            select(TaskInstance.id, TaskInstance.state).where(TaskInstance.id.in_(lost))
        )
        states = dict(rows.all())
    return StartConfirmationReply(
        starts=[
            answer
            or StartConfirmed(
                ti_id=start.ti_id,
                keep_running=False,
                state=states.get(start.ti_id),
                detail="its start no longer holds (it went back to the queue or was changed)",
            )
            for start, answer in zip(data.starts, answers, strict=True)
        ]
    )


def _refused(ti_id: str, detail: str) -> StartConfirmed:
    return StartConfirmed(ti_id=ti_id, keep_running=False, detail=detail)
