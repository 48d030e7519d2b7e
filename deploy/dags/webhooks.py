"""Webhooks: a signed GitHub-style push makes an asset event; DAGs run on it by their policy.

Declare the receiver once (an admin; the README shows the curl that signs a delivery):

    airlock receivers create github_push --asset github://acme/shop/pushes \\
        --dedup-key 'headers."x-github-delivery"' --extra '{ref: body.ref}' --secret-stdin

- ``webhook_deploy`` runs once per push (the default policy, ``RunPerEvent``);
- ``webhook_digest`` runs per 10 pushes, or a minute after the oldest waiting one;
- ``webhook_audit`` runs whenever a ``webhook_deploy`` run succeeds (``DagCompleted``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airlock.sdk import DAG, Asset, DagCompleted, RunPerBatch, task

pushes = Asset(name="shop_pushes", uri="github://acme/shop/pushes")

with DAG(
    dag_id="webhook_deploy",
    schedule=pushes,
    is_paused_upon_creation=False,
    tags=["example", "assets", "webhooks"],
):

    @task
    def deploy(triggering_asset_events: Any = None) -> list[str]:
        """Deploy the pushed ref (one event per run)."""
        refs = [str(event.extra.get("ref")) for event in triggering_asset_events[pushes]]
        print(f"deploying {refs}")
        return refs

    deploy()

with DAG(
    dag_id="webhook_digest",
    schedule=pushes,
    asset_run_policy=RunPerBatch(max_events=10, window=timedelta(minutes=1)),
    on_unpause="skip_backlog",
    is_paused_upon_creation=False,
    tags=["example", "assets", "webhooks"],
):

    @task
    def digest(triggering_asset_events: Any = None) -> int:
        """Summarize a batch of pushes."""
        count = len(triggering_asset_events[pushes])
        print(f"{count} pushes in this digest")
        return count

    digest()

with DAG(
    dag_id="webhook_audit",
    schedule=DagCompleted("webhook_deploy", states=["success"]),
    is_paused_upon_creation=False,
    tags=["example", "assets", "webhooks"],
):

    @task
    def audit(triggering_asset_events: Any = None) -> list[str]:
        """Record which deploy runs succeeded."""
        runs = [e.extra["run_id"] for events in triggering_asset_events.values() for e in events]
        print(f"audited deploy runs {runs}")
        return runs

    audit()
