#!/usr/bin/env bash
# Start Debian's PostgreSQL for the feedback store's tests and print the URL they use:
#   export KEFU_TEST_POSTGRES_URL=$(bash scripts/start_postgres.sh)
# Installs the package when missing (a new machine has nothing), starts the cluster with Debian's
# pg_ctlcluster (no systemd needed), and creates a role and database for kefu's tests. Idempotent.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -qx online; then
    pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
# From /: the postgres user may not enter the working directory (psql would warn that it cannot).
psql_admin() { (cd / && su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qAtc \"$1\"") ; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'kefu'")" != "1" ]; then
    psql_admin "CREATE ROLE kefu LOGIN PASSWORD 'kefu'" >&2
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'kefu_test'")" != "1" ]; then
    psql_admin "CREATE DATABASE kefu_test OWNER kefu" >&2
fi
echo "postgresql+psycopg://kefu:kefu@127.0.0.1:${port}/kefu_test"
