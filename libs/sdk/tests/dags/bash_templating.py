"""BashOperator templating with {{ ds }}, params, macros and variables."""

from datetime import datetime

from airlock.sdk import DAG, BashOperator, Param, task

with DAG(
    "bash_templating",
    start_date=datetime(2024, 1, 1),
    schedule="30 2 * * *",
    params={"env": Param("staging", type="string", enum=["staging", "prod"])},
    user_defined_macros={"project": "airlock"},
) as dag:
    templated = BashOperator(
        task_id="templated",
        bash_command=(
            "echo {{ ds }} {{ ds_nodash }} {{ params.env }} {{ params.limit }} "
            "{{ macros.ds_add(ds, 7) }} {{ project }}"
        ),
        params={"limit": 5},
        env={"RUN_ID": "{{ run_id }}"},
        append_env=True,
    )

    @task.bash
    def dynamic(name: str) -> str:
        return "echo hello {{ params.env }} " + name

    templated >> dynamic("world")
