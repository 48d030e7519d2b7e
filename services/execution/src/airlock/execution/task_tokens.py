"""Task tokens: the per-workload JWT that binds a runner to one task instance (DESIGN §5).

The Execution API is in the control zone and signs these itself: one when it hands a workload out,
and a fresh one on a heartbeat once less than half of the current token's lifetime is left, so a
task that runs for hours never holds an expired token while a stolen one is useful for minutes.
"""

from __future__ import annotations

import time

from airlock.core.tokens import TokenClaims, TokenKind
from airlock.core.tokens.signer import TokenSigner


class TaskTokens:
    def __init__(self, signer: TokenSigner, ttl_s: int) -> None:
        self._signer = signer
        self.ttl_s = ttl_s

    def issue(
        self,
        ti_id: str,
        *,
        dag_id: str,
        run_id: str,
        bundle: str,
        try_number: int,
        claim_epoch: int | None = None,
    ) -> str:
        """A token for running try ``try_number`` of task instance ``ti_id``, handed out under
        ``claim_epoch``."""
        return self._signer.issue(
            TokenKind.TASK,
            ti_id,
            self.ttl_s,
            dag_id=dag_id,
            run_id=run_id,
            bundle=bundle,
            try_number=try_number,
            claim_epoch=claim_epoch,
        )

    def refresh(self, claims: TokenClaims) -> str | None:
        """A new token with the same binding, if ``claims`` is past half its lifetime."""
        if claims.exp - time.time() > self.ttl_s / 2:
            return None
        return self._signer.issue(
            TokenKind.TASK,
            claims.sub,
            self.ttl_s,
            dag_id=claims.dag_id,
            run_id=claims.run_id,
            bundle=claims.bundle,
            try_number=claims.try_number,
            claim_epoch=claims.claim_epoch,
        )
