"""Nested task groups, with decorators and context managers."""

from datetime import datetime

from airlock.sdk import DAG, EmptyOperator, TaskGroup, task, task_group

with DAG("task_groups", start_date=datetime(2024, 1, 1), schedule="@hourly") as dag:
    start = EmptyOperator(task_id="start")
    end = EmptyOperator(task_id="end")

    with TaskGroup("section_1", tooltip="Tasks for section 1", default_args={"retries": 4}) as s1:
        task_1 = EmptyOperator(task_id="task_1")
        with TaskGroup("inner", prefix_group_id=True) as inner:
            inner_a = EmptyOperator(task_id="a")
            inner_b = EmptyOperator(task_id="b")
            inner_a >> inner_b
        task_1 >> inner

    @task_group(group_id="section_2")
    def section_2():
        """Section two."""

        @task
        def step(n: int):
            return n

        @task_group
        def nested():
            return step(3)

        return step(1) >> step(2) >> nested()

    start >> s1 >> section_2() >> end
