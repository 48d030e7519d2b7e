"""Dynamic task mapping: expand over literals and upstream output, partial, expand_kwargs."""

from datetime import datetime

from airlock.sdk import DAG, BashOperator, task

with DAG(dag_id="dynamic_mapping", start_date=datetime(2024, 1, 1), schedule=None) as dag:

    @task
    def make_list():
        return [1, 2, 3]

    @task
    def add(x: int, y: int):
        return x + y

    @task
    def total(values):
        return sum(values)

    added_literal = add.partial(y=10).expand(x=[1, 2])
    added_upstream = add.override(task_id="add_upstream").partial(y=100).expand(x=make_list())
    cross = add.override(task_id="cross").expand(x=[1, 2], y=[10, 20, 30])
    total(added_upstream)

    @task
    def commands():
        return [{"bash_command": "echo 1"}, {"bash_command": "echo 2"}]

    BashOperator.partial(task_id="bash_kwargs", retries=1).expand_kwargs(commands())
    BashOperator.partial(task_id="bash_literal").expand(bash_command=["echo a", "echo b", "echo c"])
