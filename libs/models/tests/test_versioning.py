"""Dated versions and their migration gates, on a small API of its own with three versions:

- 2026-03-01 (head): ``Job.owner`` became ``owner_id`` (an int), ``Job.labels`` appeared, the
  ``/jobs/{job_id}/cancel`` endpoint appeared, ``/tasks/{job_id}`` moved to ``/jobs/{job_id}``
  and ``/legacy`` was removed.
- 2026-02-01: ``Job.name`` was called ``title``, and ``Job.priority`` existed (derived from
  ``urgent`` by a converter).
- 2026-01-01: the oldest.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from airlock.models.versioning import (
    ApiVersions,
    Endpoint,
    EndpointAdded,
    EndpointMoved,
    EndpointRemoved,
    FieldAdded,
    FieldRemoved,
    FieldRenamed,
    FieldRetyped,
    RequestConverter,
    ResponseConverter,
    UnsupportedVersion,
    Version,
    VersionDeclarationError,
    VersionGates,
    versioned_document,
)


class Step(msgspec.Struct, kw_only=True):
    name: str
    children: list[Step] = msgspec.field(default_factory=list)


class Job(msgspec.Struct, kw_only=True):
    name: str
    owner_id: int = 0
    urgent: bool = False
    labels: list[str] = msgspec.field(default_factory=list)
    steps: list[Step] = msgspec.field(default_factory=list)


class JobPage(msgspec.Struct, kw_only=True):
    jobs: list[Job]
    by_name: dict[str, Job] = msgspec.field(default_factory=dict)


class Started(msgspec.Struct, kw_only=True, tag="started", tag_field="kind"):
    job: Job


class Stopped(msgspec.Struct, kw_only=True, tag="stopped", tag_field="kind"):
    reason: str


def _priority(job: dict[str, Any]) -> None:
    job["priority"] = 9 if job.get("urgent") else 1


def _urgent(job: dict[str, Any]) -> None:
    job["urgent"] = job.pop("priority", 1) >= 5


V3 = Version(
    "2026-03-01",
    "Owners are ids; jobs have labels; cancel; tasks are jobs; no legacy.",
    changes=(
        FieldRenamed(Job, old="owner", new="owner_id"),
        FieldRetyped(Job, "owner_id", old_type=str, to_new=int, to_old=str),
        FieldAdded(Job, "labels"),
        EndpointAdded("POST", "/jobs/{job_id}/cancel"),
        EndpointMoved("GET", old_path="/tasks/{job_id}", new_path="/jobs/{job_id}"),
        EndpointRemoved("GET", "/legacy"),
    ),
)
V2 = Version(
    "2026-02-01",
    "Jobs have names, and urgency instead of a priority.",
    changes=(
        FieldRenamed(Job, old="title", new="name"),
        FieldRemoved(Job, "priority", type=int, default=1),
        ResponseConverter(_priority, schema=Job),
        RequestConverter(_urgent, schema=Job),
    ),
)
V1 = Version("2026-01-01", "The first.")
VERSIONS = ApiVersions("Test", [V3, V2, V1])

ENDPOINTS = [
    Endpoint("GET", "/jobs", response=JobPage),
    Endpoint("POST", "/jobs", request=Job, response=Job),
    Endpoint("GET", "/jobs/{job_id}", response=Job),
    Endpoint("POST", "/jobs/{job_id}/cancel", response=None),
    Endpoint("PATCH", "/jobs/{job_id}", request=Started | Stopped, response=list[Job]),
    Endpoint("GET", "/legacy", response=str),
    Endpoint("GET", "/health", response=dict[str, str]),
]
GATES = VersionGates(VERSIONS, ENDPOINTS)


def head_job(**values: Any) -> dict[str, Any]:
    job = Job(name="build", owner_id=7, urgent=True, labels=["ci"], **values)
    return msgspec.to_builtins(job)  # type: ignore[no-any-return]


def down(index: int, method: str, path: str, body: Any) -> Any:
    return VersionGates.apply(GATES.response_gates(index, (method, path)), body)


def up(index: int, method: str, path: str, body: Any) -> Any:
    return VersionGates.apply(GATES.request_gates(index, (method, path)), body)


# --- which version a client asked for -------------------------------------------------------


def test_no_header_and_the_head_date_mean_head() -> None:
    assert VERSIONS.resolve(None) == 0
    assert VERSIONS.resolve("2026-03-01") == 0
    assert VERSIONS.resolve("2026-01-01") == 2


@pytest.mark.parametrize(
    ("header", "reason", "says"),
    [
        ("yesterday", "malformed", "must be a date written YYYY-MM-DD, got 'yesterday'"),
        ("2026-1-01", "malformed", "YYYY-MM-DD"),
        ("2026-02-30", "malformed", "YYYY-MM-DD"),
        ("", "malformed", "YYYY-MM-DD"),
        ("2027-01-01", "too-new", "newer than this server's Test API (head 2026-03-01)"),
        ("2025-12-31", "too-old", "older than the oldest Test API version"),
        ("2026-02-15", "unknown", "not a version of the Test API"),
    ],
)
def test_a_version_the_server_cannot_serve_names_the_supported_ones(
    header: str, reason: str, says: str
) -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        VERSIONS.resolve(header)
    assert caught.value.reason == reason
    assert says in str(caught.value)
    assert "supports 2026-03-01 (head), 2026-02-01, 2026-01-01" in str(caught.value)


# --- declarations are checked against the Structs -------------------------------------------


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (FieldAdded(Job, "colour"), "Job gained 'colour', but it has no such field"),
        (FieldRemoved(Job, "name", type=str, default=""), "Job lost 'name', but it still has"),
        (FieldRenamed(Job, old="label", new="tag"), "Job renamed 'label' to 'tag'"),
        (FieldAdded(Job, "name"), "gained the required field 'name'"),
    ],
)
def test_a_declaration_that_does_not_fit_the_structs_is_refused(change: Any, says: str) -> None:
    with pytest.raises(VersionDeclarationError, match=says):
        ApiVersions("Test", [Version("2026-02-01", "x", changes=(change,)), V1])


def test_versions_must_be_listed_newest_first() -> None:
    with pytest.raises(VersionDeclarationError, match="newest first"):
        ApiVersions("Test", [V1, V2])


def test_a_change_naming_an_endpoint_the_api_lacks_is_refused() -> None:
    versions = ApiVersions(
        "Test", [Version("2026-02-01", "x", changes=(EndpointAdded("GET", "/nope"),)), V1]
    )
    with pytest.raises(VersionDeclarationError, match="GET /nope, which is not an endpoint"):
        VersionGates(versions, ENDPOINTS)


def test_a_version_is_a_date() -> None:
    with pytest.raises(ValueError, match="not a date"):
        Version("v2", "x")


# --- responses go down, requests go up ------------------------------------------------------


def test_head_clients_pass_no_gate() -> None:
    for endpoint in ENDPOINTS:
        assert GATES.request_gates(0, endpoint.key) == []
        assert GATES.response_gates(0, endpoint.key) == []


def test_untouched_endpoints_pass_no_gate_in_any_version() -> None:
    for index in range(3):
        assert GATES.response_gates(index, ("GET", "/health")) == []
        assert GATES.response_gates(index, ("GET", "/legacy")) == []


def test_a_response_goes_down_one_version() -> None:
    assert down(1, "GET", "/jobs/{job_id}", head_job()) == {
        "name": "build",
        "owner": "7",
        "urgent": True,
        "steps": [],
    }


def test_a_response_goes_down_through_every_version_to_the_oldest() -> None:
    assert down(2, "GET", "/jobs/{job_id}", head_job()) == {
        "title": "build",
        "owner": "7",
        "urgent": True,
        "priority": 9,
        "steps": [],
    }


def test_a_request_goes_up_through_every_version_to_head() -> None:
    old = {"title": "build", "owner": "7", "priority": 8}
    body = up(2, "POST", "/jobs", old)
    assert msgspec.convert(body, Job) == Job(name="build", owner_id=7, urgent=True)


def test_structs_are_found_inside_lists_dicts_and_nested_structs() -> None:
    page = {"jobs": [head_job(), head_job()], "by_name": {"build": head_job()}}
    old = down(1, "GET", "/jobs", page)
    assert [job["owner"] for job in old["jobs"]] == ["7", "7"]
    assert old["by_name"]["build"]["owner"] == "7"
    assert all("labels" not in job for job in [*old["jobs"], old["by_name"]["build"]])


def test_a_response_that_is_a_list_goes_down_item_by_item() -> None:
    assert [job["title"] for job in down(2, "PATCH", "/jobs/{job_id}", [head_job()] * 2)] == [
        "build",
        "build",
    ]
    assert down(2, "PATCH", "/jobs/{job_id}", []) == []


def test_a_tagged_union_member_is_found_by_its_tag() -> None:
    started = up(2, "PATCH", "/jobs/{job_id}", {"kind": "started", "job": {"title": "t"}})
    assert started == {"kind": "started", "job": {"name": "t", "urgent": False}}
    stopped = {"kind": "stopped", "reason": "enough"}
    assert up(2, "PATCH", "/jobs/{job_id}", dict(stopped)) == stopped


def test_a_recursive_struct_is_walked_at_every_depth() -> None:
    deep = Version(
        "2026-02-01", "steps got names", changes=(FieldRenamed(Step, old="label", new="name"),)
    )
    gates = VersionGates(
        ApiVersions("Test", [deep, V1]), [Endpoint("GET", "/jobs/{job_id}", response=Job)]
    )
    tree = {"name": "j", "steps": [{"name": "a", "children": [{"name": "b", "children": []}]}]}
    old = VersionGates.apply(gates.response_gates(1, ("GET", "/jobs/{job_id}")), tree)
    assert old["name"] == "j"
    assert old["steps"][0]["label"] == "a"
    assert old["steps"][0]["children"][0]["label"] == "b"


def test_values_of_other_shapes_are_left_alone() -> None:
    assert down(1, "GET", "/jobs", {"jobs": None}) == {"jobs": None}
    assert down(1, "GET", "/jobs/{job_id}", "not an object") == "not an object"


def test_an_endpoint_converter_sees_the_whole_body() -> None:
    wrapped = Version(
        "2026-02-01",
        "the page became an object",
        changes=(ResponseConverter(lambda page: page["jobs"], endpoint=("GET", "/jobs")),),
    )
    gates = VersionGates(ApiVersions("Test", [wrapped, V1]), ENDPOINTS)
    page = {"jobs": [head_job()], "by_name": {}}
    assert VersionGates.apply(gates.response_gates(1, ("GET", "/jobs")), page) == [head_job()]


# --- endpoints per version ------------------------------------------------------------------


def test_an_added_endpoint_does_not_exist_for_older_clients() -> None:
    cancel = ("POST", "/jobs/{job_id}/cancel")
    assert GATES.exists(0, cancel)
    assert not GATES.exists(1, cancel)
    assert not GATES.exists(2, cancel)


def test_a_removed_endpoint_exists_only_for_older_clients() -> None:
    legacy = ("GET", "/legacy")
    assert not GATES.exists(0, legacy)
    assert GATES.exists(1, legacy)
    assert GATES.exists(2, legacy)


def test_a_moved_endpoint_is_found_at_its_old_path_by_older_clients() -> None:
    assert GATES.head_path(1, "GET", "/tasks/42") == "/jobs/42"
    assert GATES.head_path(2, "GET", "/tasks/a%20b") == "/jobs/a%20b"
    assert GATES.head_path(0, "GET", "/tasks/42") is None
    assert GATES.head_path(1, "POST", "/tasks/42") is None
    assert GATES.head_path(1, "GET", "/tasks/42/more") is None


# --- OpenAPI per version --------------------------------------------------------------------


def _head_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [Job, JobPage], ref_template="#/components/schemas/{name}"
    )
    ok = {"200": {"description": "ok"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Test", "version": "0.1.0"},
        "paths": {
            "/api/jobs": {"get": {"responses": ok}, "post": {"responses": ok}},
            "/api/jobs/{job_id}": {"get": {"responses": ok}, "parameters": []},
            "/api/jobs/{job_id}/cancel": {"post": {"responses": ok}},
            "/api/legacy": {"get": {"responses": ok}},
        },
        "components": {"schemas": components},
    }


def test_each_version_has_its_own_openapi_document() -> None:
    head = versioned_document(_head_document(), VERSIONS, 0, "/api")
    assert head["info"]["version"] == "2026-03-01"
    assert "/api/legacy" not in head["paths"]
    assert set(head["components"]["schemas"]["Job"]["properties"]) >= {"name", "owner_id"}

    oldest = versioned_document(_head_document(), VERSIONS, 2, "/api")
    assert oldest["info"]["version"] == "2026-01-01"
    assert set(oldest["paths"]) == {"/api/jobs", "/api/tasks/{job_id}", "/api/legacy"}
    assert oldest["paths"]["/api/tasks/{job_id}"]["parameters"] == []
    job = oldest["components"]["schemas"]["Job"]
    assert set(job["properties"]) == {"title", "owner", "urgent", "priority", "steps"}
    assert job["properties"]["owner"] == {"type": "string"}
    assert job["properties"]["priority"] == {"type": "integer"}
    assert job["required"] == ["title"]
    assert "2026-02-01: Jobs have names" in oldest["info"]["description"]


class Tag(msgspec.Struct, kw_only=True):
    text: str


class Card(msgspec.Struct, kw_only=True):
    title: str
    tags: list[Tag] = msgspec.field(default_factory=list)


CARD_VERSIONS = ApiVersions(
    "Cards",
    [
        Version("2026-02-01", "Cards have tags.", changes=(FieldAdded(Card, "tags"),)),
        Version("2026-01-01", "The first."),
    ],
)


def test_a_component_only_a_newer_field_uses_is_left_out_of_an_older_document() -> None:
    _, components = msgspec.json.schema_components(
        [Card], ref_template="#/components/schemas/{name}"
    )
    card = {"$ref": "#/components/schemas/Card"}
    head_document = {
        "openapi": "3.1.0",
        "info": {"title": "Cards", "version": "0.1.0"},
        "paths": {
            "/api/cards": {
                "get": {"responses": {"200": {"content": {"application/json": {"schema": card}}}}}
            }
        },
        "components": {"schemas": {**components, "Unused": {"type": "object"}}},
    }
    head = versioned_document(head_document, CARD_VERSIONS, 0, "/api")
    assert set(head["components"]["schemas"]) == {"Card", "Tag", "Unused"}
    older = versioned_document(head_document, CARD_VERSIONS, 1, "/api")
    assert set(older["components"]["schemas"]["Card"]["properties"]) == {"title"}
    # Tag only served the new field; a component head did not use either is not touched.
    assert set(older["components"]["schemas"]) == {"Card", "Unused"}
