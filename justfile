# Airlock's one entry point: the README, CI and people all call these recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# list the recipes
default:
    @just --list

# start every Airlock service on this machine (embedded SQLite under ./.airlock)
run-all *ARGS:
    uv run airlock run-all {{ARGS}}

# the whole test suite: lint, types, then pytest (PostgreSQL tests run when CI=true or reachable)
test *ARGS: lint
    uv run pytest {{ARGS}}

# ruff and mypy, as CI runs them
lint:
    uv run ruff check .
    uv run ruff format --check .
    uv run mypy

# reformat and fix what ruff can fix
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# export the OpenAPI document of every API into deploy/openapi/, and regenerate the Node.js
# runner's client from the Execution API's
openapi:
    uv run python -m airlock.cli.openapi_export deploy/openapi
    if command -v node >/dev/null; then node libs/runner-node/scripts/generate-api.mjs; fi

# benchmarks: `just bench dag-processing [--n N | --files DIR] [--runs R]`
bench NAME *ARGS:
    uv run python bench/{{replace(NAME, "-", "_")}}.py {{ARGS}}
