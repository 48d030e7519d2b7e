"""Setup and teardown tasks: decorators, .as_teardown(setups=...), and the context manager."""

from datetime import datetime

from airlock.sdk import DAG, BashOperator, setup, task, teardown

with DAG("setup_teardown", start_date=datetime(2024, 1, 1), schedule=None) as dag:

    @setup
    def create_cluster():
        return "cluster-1"

    @task
    def run_query(cluster):
        return f"ran on {cluster}"

    @teardown
    def delete_cluster(cluster):
        return f"deleted {cluster}"

    cluster = create_cluster()
    query = run_query(cluster)
    query >> delete_cluster(cluster)

    create_bucket = BashOperator(task_id="create_bucket", bash_command="echo create")
    delete_bucket = BashOperator(task_id="delete_bucket", bash_command="echo delete")
    with delete_bucket.as_teardown(setups=create_bucket):
        BashOperator(task_id="load_1", bash_command="echo 1") >> BashOperator(
            task_id="load_2", bash_command="echo 2"
        )
