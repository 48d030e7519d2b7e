"""A task that prints the secrets it was handed, run by a real `airlock worker` against a real
`airlock api` (issue 18, part 6): its log, a template field rendered with a secret and the XCom a
viewer reads show ``***`` instead of the connection password, the secret values of the
connection's extra and the value of a variable whose key names a secret."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.core.secrets_key import read_secrets_keys
from airlock.core.tokens import TokenKind
from airlock.db import Connection, SecretBox, Variable
from airlock.db.database import Database
from airlock.models.states import TaskInstanceState
from tests.support.processes import ApiServer, Home
from tests.test_worker import Rig

PASSWORD = "conn-pass-Zq81x"
EXTRA_TOKEN = "extra-token-Pw33k"
VARIABLE_SECRET = "var-secret-Lm57r"
PLAIN = "eu-west-plain-value"

DAG_FILE = """
from airlock.sdk import BashOperator, Connection, Variable, dag, task

@dag(schedule=None)
def {dag_id}():
    @task
    def leaks():
        conn = Connection.get("{conn_id}")
        print("password:", conn.password)
        print("extra:", conn.extra)
        print("variable:", Variable.get("{var_key}"))
        print("plain:", Variable.get("{plain_key}"))
        return {{"dsn": f"postgres://etl:{{conn.password}}@db/x", "api_token": "anything",
                 "region": Variable.get("{plain_key}")}}

    templated = BashOperator(
        task_id="templated",
        bash_command="echo rendered: {{{{ conn.{conn_id}.password }}}} {{{{ var.value.{var_key} }}}}",
    )
    leaks() >> templated

{dag_id}()
"""


@pytest.fixture
def rig(home: Home, api: ApiServer, tmp_path: Path) -> Iterator[Rig]:
    name = uuid.uuid4().hex[:8]
    folder = tmp_path / "bundle"
    folder.mkdir()
    dag_id = f"masked_{name}"
    source = DAG_FILE.format(
        dag_id=dag_id, conn_id=f"c_{name}", var_key=f"db_password_{name}", plain_key=f"r_{name}"
    )
    (folder / f"{dag_id}.py").write_text(textwrap.dedent(source))
    db = Database(home.db_url)
    box = SecretBox(read_secrets_keys(home.path / "keys" / "secrets.key"))
    bundle = f"b{name}"
    with db.sessions() as session:
        connection = Connection(conn_id=f"c_{name}", conn_type="postgres", bundle_name=bundle)
        connection.set_password(PASSWORD, box)
        connection.set_extra(f'{{"sslmode": "require", "token": "{EXTRA_TOKEN}"}}', box)
        secret = Variable(key=f"db_password_{name}", bundle_name=bundle)
        secret.set_value(VARIABLE_SECRET, box)
        plain = Variable(key=f"r_{name}", bundle_name=bundle)
        plain.set_value(PLAIN, box)
        session.add_all([connection, secret, plain])
        session.commit()
    rig = Rig(
        home=home,
        api_url=api.url,
        folder=folder,
        bundle=bundle,
        dag_id=dag_id,
        queue=f"q{name}",
        db=db,
    )
    rig.upload()
    yield rig
    rig.stop_workers()
    db.close()


def test_secrets_a_task_prints_are_masked_in_its_log_and_xcom(
    rig: Rig, api: ApiServer, home: Home
) -> None:
    rig.start_worker()
    leaks, templated = rig.queue_tasks("leaks", "templated")
    states = rig.wait_done([leaks, templated])
    assert states == {"leaks": TaskInstanceState.SUCCESS, "templated": TaskInstanceState.SUCCESS}
    log = rig.logs(leaks) + "\n" + rig.logs(templated)
    for secret in (PASSWORD, EXTRA_TOKEN, VARIABLE_SECRET):
        assert secret not in log, log
    assert "password: ***" in log
    assert '"token": "***"' in log
    assert "variable: ***" in log
    assert "rendered: *** ***" in log
    assert f"plain: {PLAIN}" in log  # what is not secret stays readable

    viewer = home.token(TokenKind.USER, "viewer", roles=["viewer"])
    ti = rig.ti(leaks)
    path = (
        f"/api/v1/dags/{ti.dag_id}/dagRuns/{ti.run_id}/taskInstances/leaks/xcomEntries/return_value"
    )
    with api.client() as client:
        shown = client.get(path, headers={"Authorization": f"Bearer {viewer}"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["value"] == {
        "dsn": "postgres://etl:***@db/x",
        "api_token": "***",
        "region": PLAIN,
    }
