"""The four token kinds and the claims each carries.

| kind    | aud       | sub                | extra claims                         | lifetime        |
|---------|-----------|--------------------|--------------------------------------|-----------------|
| task    | execution | task instance id   | ``bundle``, ``dag_id``, ``run_id``   | minutes         |
| worker  | execution | worker name        | ``queues``                           | days            |
| service | internal  | service name       | ``role``, ``bundles``                | long, revocable |
| user    | web       | username           | ``roles``, ``bundles`` (team scope)  | hours           |
"""

from __future__ import annotations

import enum

import msgspec


class TokenKind(enum.StrEnum):
    TASK = "task"
    WORKER = "worker"
    SERVICE = "service"
    USER = "user"


class ServiceRole(enum.StrEnum):
    DAG_PROCESSOR = "dag-processor"
    TRIGGERER = "triggerer"
    CALLBACK_PROCESSOR = "callback-processor"


class UserRole(enum.StrEnum):
    ADMIN = "admin"
    OP = "op"
    VIEWER = "viewer"


AUDIENCE_BY_KIND: dict[TokenKind, str] = {
    TokenKind.TASK: "execution",
    TokenKind.WORKER: "execution",
    TokenKind.SERVICE: "internal",
    TokenKind.USER: "web",
}


class TokenClaims(msgspec.Struct, kw_only=True, frozen=True):
    """What a verified token says about its holder."""

    kind: TokenKind
    sub: str
    aud: str
    iss: str
    iat: int
    exp: int
    jti: str
    role: ServiceRole | None = None
    roles: list[UserRole] = msgspec.field(default_factory=list)
    #: Bundles the holder may touch; ``None`` means every bundle (an unscoped user).
    bundles: list[str] | None = None
    queues: list[str] | None = None
    dag_id: str | None = None
    run_id: str | None = None
    bundle: str | None = None
    #: A task token's try: reports made with it apply to that try only.
    try_number: int | None = None
    #: A task token's hand-out: the claim epoch the task was handed out under. A runner confirms
    #: that hand-out, and only that one (a later hand-out of the same try has another epoch).
    claim_epoch: int | None = None

    def may_touch_bundle(self, bundle: str) -> bool:
        return self.bundles is None or bundle in self.bundles
