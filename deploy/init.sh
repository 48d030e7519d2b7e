#!/bin/sh
# The one-shot `init` of a zone-split deployment (deploy/compose.yaml, ADR 0025): migrate the
# database, then make what each zone is handed as a secret, as files in $INIT_SECRETS_DIR (default
# /secrets): the token keys and the secrets key (control zone), the worker's token (execution
# zone), the DAG processor's, triggerer's and callback processor's tokens (processing zone), and
# the first admin's password. What exists is kept, so running it again only migrates and fills
# gaps; delete a token file and run it again to replace that token.
#
# It runs in the control zone: its config ($AIRLOCK_CONFIG) holds the database URL.
set -eu
out=${INIT_SECRETS_DIR:-/secrets}
bundles=${INIT_BUNDLES:-dags}
# The files stay the folder owner's (the operator's), readable by the services' group (gid 10001).
group=${INIT_GROUP:-10001}
export AIRLOCK_AUTH__PRIVATE_KEY_FILE="$out/jwt_signing.pem"
export AIRLOCK_AUTH__PUBLIC_KEY_FILE="$out/jwt_public.pem"
export AIRLOCK_SECRETS__KEY_FILE="$out/secrets.key"
umask 077

airlock db migrate
airlock keys generate

bundle_args=""
for bundle in $(echo "$bundles" | tr ',' ' '); do
    bundle_args="$bundle_args --bundle $bundle"
done

issue() {
    name=$1
    shift
    if [ ! -s "$out/$name.token" ]; then
        airlock tokens issue --ttl 365d "$@" > "$out/$name.token.new"
        mv "$out/$name.token.new" "$out/$name.token"
        echo "issued $out/$name.token"
    fi
}
issue worker --kind worker
# shellcheck disable=SC2086
issue dag-processor --kind service --role dag-processor $bundle_args
# shellcheck disable=SC2086
issue triggerer --kind service --role triggerer $bundle_args
# shellcheck disable=SC2086
issue callback-processor --kind service --role callback-processor $bundle_args

if [ ! -s "$out/admin-password" ]; then
    python -c 'import secrets; print(secrets.token_urlsafe(18))' > "$out/admin-password"
    airlock users create admin --role admin --password-stdin < "$out/admin-password"
    echo "created user admin; its password is in $out/admin-password"
fi

# Compose hands secrets over as the files themselves: the services' group must be able to read
# them; the admin password is the operator's alone.
if [ "$(id -u)" = 0 ]; then
    chown "$(stat -c %u "$out"):$group" "$out"/*
    chmod 0440 "$out"/*
    chmod 0400 "$out/admin-password"
fi
