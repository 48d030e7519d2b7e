# Airlock's one entry point: the README, CI and people all call these recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# list the recipes
default:
    @just --list

# start every Airlock service on this machine (embedded SQLite under ./.airlock)
run-all *ARGS:
    uv run airlock run-all {{ARGS}}

# A test file's tests stay on one pytest worker, so its module fixtures start once.
# the whole test suite: lint, types, then pytest on every core (PostgreSQL: CI=true or reachable)
test *ARGS: lint node-deps
    uv run pytest -n auto --dist loadfile {{ARGS}}

# the inner loop: unit and SQLite tests on every core, without lint, slow or PostgreSQL tests
test-fast *ARGS:
    uv run pytest -n auto --dist loadfile -m "not slow and not postgres" -q {{ARGS}}

# Installed when node_modules is missing or older than the lock file; without npm the runner's
# tests skip (and fail under CI=true).
# the Node.js runner's type checker, its only dependency
node-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    runner=libs/runner-node
    if ! command -v npm >/dev/null; then
        echo "npm not found: the Node.js runner's tests need Node.js 20 or newer" >&2
        exit 0
    fi
    if [ ! -f "$runner/node_modules/.package-lock.json" ] \
        || [ "$runner/package-lock.json" -nt "$runner/node_modules/.package-lock.json" ]; then
        npm ci --prefix "$runner" --no-audit --no-fund
    fi

# faults during 200-task runs, SQLite and PostgreSQL: the API SIGKILLed ROUNDS times at random
# moments (on PostgreSQL every DB connection terminated every other round); every run must succeed
chaos ROUNDS="50":
    AIRLOCK_TEST_CHAOS_ROUNDS={{ROUNDS}} uv run pytest tests/test_chaos.py -p no:cacheprovider -q

# asset watchers under SIGKILL: the triggerer killed ROUNDS times while Redis stream entries flow;
# every entry must become exactly one asset event
chaos-events ROUNDS="20":
    AIRLOCK_TEST_CHAOS_EVENTS_ROUNDS={{ROUNDS}} uv run pytest tests/test_watchers_chaos.py -p no:cacheprovider -q -k sigkilled

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

# deploy/secrets for deploy/compose.yaml: a random PostgreSQL password and the control zone's
# config holding the database URL (kept when they exist; `init` makes the keys and tokens)
compose-secrets:
    #!/usr/bin/env bash
    set -euo pipefail
    umask 077
    mkdir -p deploy/secrets
    if [ ! -s deploy/secrets/postgres-password ]; then
        python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > deploy/secrets/postgres-password
    fi
    if [ ! -s deploy/secrets/control.toml ]; then
        password=$(cat deploy/secrets/postgres-password)
        printf '[database]\nurl = "postgresql+psycopg://airlock:%s@postgres:5432/airlock"\n' "$password" \
            > deploy/secrets/control.toml
    fi

# build the images and start Airlock split by zone with Docker Compose (deploy/compose.yaml)
up: compose-secrets
    docker compose -p airlock -f deploy/compose.yaml build
    docker compose -p airlock -f deploy/compose.yaml run --rm init
    docker compose -p airlock -f deploy/compose.yaml up -d
