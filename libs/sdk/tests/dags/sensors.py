"""Sensors: @task.sensor with PokeReturnValue, poke and reschedule modes."""

from datetime import datetime, timedelta

from airlock.sdk import DAG, BaseSensorOperator, PokeReturnValue, task


class FileCountSensor(BaseSensorOperator):
    template_fields = ("path",)

    def __init__(self, *, path: str, **kwargs):
        super().__init__(**kwargs)
        self.path = path

    def poke(self, context):
        return False


with DAG("sensors", start_date=datetime(2024, 1, 1), schedule="@daily") as dag:

    @task.sensor(poke_interval=30, timeout=3600, mode="reschedule", soft_fail=True)
    def wait_for_upstream() -> PokeReturnValue:
        return PokeReturnValue(is_done=True, xcom_value="ready")

    files = FileCountSensor(
        task_id="wait_for_files",
        path="/data/{{ ds }}",
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=2),
        exponential_backoff=True,
    )
    wait_for_upstream() >> files
