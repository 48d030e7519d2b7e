"""Asset-scheduled DAGs: a producer, & / | conditions, a list, and an AssetWatcher."""

from datetime import datetime

from airlock.sdk import DAG, Asset, AssetAlias, AssetWatcher, BaseEventTrigger, task

orders = Asset("orders", uri="s3://warehouse/orders", group="sales", extra={"team": "sales"})
customers = Asset(uri="s3://warehouse/customers")
inventory = Asset("inventory")
alias = AssetAlias("daily-exports")


class QueueMessageTrigger(BaseEventTrigger):
    def __init__(self, queue: str, poll_interval: float = 5.0):
        self.queue = queue
        self.poll_interval = poll_interval

    def serialize(self):
        return (
            "asset_scheduled.QueueMessageTrigger",
            {"queue": self.queue, "poll_interval": self.poll_interval},
        )


events = Asset(
    "queue-events",
    watchers=[AssetWatcher(name="queue_watcher", trigger=QueueMessageTrigger("orders-q"))],
)

with DAG("producer", start_date=datetime(2024, 1, 1), schedule="@daily"):

    @task(outlets=[orders, alias])
    def produce():
        return None

    produce()

with DAG("consumer_expr", schedule=(orders & customers) | inventory):

    @task(inlets=[orders])
    def consume():
        return None

    consume()

with DAG("consumer_list", schedule=[orders, customers]):

    @task
    def consume_both():
        return None

    consume_both()

with DAG("watched", schedule=events):

    @task
    def react():
        return None

    react()
