#!/bin/sh
# Install user-code zone services (worker; DAG processor, triggerer, callback processor) into a
# virtual environment with only what they need: no SQLAlchemy, no PostgreSQL driver, no PyJWT or
# cryptography, no Litestar, no Airlock control-plane package (ADR 0025). The slim images are
# built with it, and tests/test_deploy_images.py runs the same script.
#
#   deploy/install-slim.sh VENV PACKAGE...     e.g. deploy/install-slim.sh /opt/airlock airlock-worker
#
# From the repository root, with uv. Third-party packages come pinned and hashed from uv.lock;
# the services' own packages are installed without their (absent) control-plane dependencies,
# plus the `airlock` command's zone entry point (`python -m airlock.cli.zone`) and the settings
# module it reads, alone.
set -eu
venv=$1
shift
[ "$#" -gt 0 ] || { echo "usage: $0 VENV PACKAGE..." >&2; exit 2; }

packages=""
folders=""
for package in "$@"; do
    case "$package" in
        airlock-worker) folder=services/worker ;;
        airlock-dag-processor) folder=services/dag_processor ;;
        airlock-triggerer) folder=services/triggerer ;;
        airlock-callback-processor) folder=services/callback_processor ;;
        *) echo "$0: $package is not a user-code zone service" >&2; exit 2 ;;
    esac
    packages="$packages --package $package"
    folders="$folders $folder"
done

requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
# shellcheck disable=SC2086
uv export --frozen --no-dev --no-emit-workspace --format requirements-txt $packages > "$requirements"

[ -x "$venv/bin/python" ] || uv venv --quiet --no-project "$venv"
uv pip install --quiet --python "$venv/bin/python" --require-hashes -r "$requirements"
# shellcheck disable=SC2086
uv pip install --quiet --python "$venv/bin/python" --no-deps libs/models libs/sdk $folders services/cli

# The settings module alone (msgspec and the standard library): not the rest of airlock-core.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/airlock/core"
cp libs/core/src/airlock/core/settings.py "$site/airlock/core/settings.py"
# The `airlock` command's control-plane verbs cannot run here; `airlock-zone` can.
rm -f "$venv/bin/airlock"
"$venv/bin/python" -m compileall -q "$site/airlock"
