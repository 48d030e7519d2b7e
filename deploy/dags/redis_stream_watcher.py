"""An asset watcher: each entry added to the Redis stream ``orders`` becomes an event of the
asset ``redis://orders``, and each event runs ``orders_from_redis``.

The triggerer runs the watcher (acking an entry only after its event is stored). It reads Redis
through the connection ``redis_default``; create it once (this machine runs Redis on 6379)::

    airlock connections add redis_default --conn-type redis --host 127.0.0.1 --port 6379

then add an entry and watch the run appear::

    redis-cli XADD orders '*' order_id 42 amount 9.99
    airlock assets watchers <asset id>      # state, lag, last error, last event
"""

from __future__ import annotations

from typing import Any

from airlock.sdk import DAG, Asset, AssetWatcher, task
from airlock.sdk.triggers.events import RedisStreamTrigger

orders_stream = Asset(
    name="orders_stream",
    uri="redis://orders",
    watchers=[AssetWatcher("orders_stream", RedisStreamTrigger("orders", conn_id="redis_default"))],
)

with DAG(
    dag_id="orders_from_redis",
    schedule=[orders_stream],
    is_paused_upon_creation=False,
    tags=["example", "assets", "watchers"],
):

    @task
    def handle_orders(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Each stream entry's fields arrive as the event's ``extra``."""
        entries = [
            dict(event.extra)
            for events in (triggering_asset_events or {}).values()
            for event in events
        ]
        for entry in entries:
            print(f"order {entry.get('order_id')} ({entry.get('stream_id')})")
        return entries

    handle_orders()
