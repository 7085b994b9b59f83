#!/usr/bin/env bash
# The whole API, run from its own OpenAPI document by schemathesis (property-based: valid and invalid
# parameters and bodies for every operation) against a fresh server with a ministry token. Fails on
# any server error, any answer outside the documented schemas or media types.
#
#   scripts/schemathesis.sh sqlite                  # a fresh SQLite file
#   scripts/schemathesis.sh postgres [server URL]   # a fresh database on that PostgreSQL server
#
# Needs the server built (`cargo build -p sipas-server`; SIPAS_BIN overrides the binary) and
# Python 3 with venv; installs schemathesis from PyPI into .ci/venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

backend="${1:?sqlite or postgres}"
pg_server="${2:-postgres://postgres@127.0.0.1:5432}"
bin="${SIPAS_BIN:-target/debug/sipas}"
examples="${SIPAS_FUZZ_EXAMPLES:-40}"
venv=.ci/venv
schemathesis_version=4.32.5

if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version | grep -q "$schemathesis_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi

work="$(mktemp -d)"
db_name="sipas_fuzz_$$_$(date +%s)"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  if [ "$backend" = postgres ]; then
    psql "$pg_server/postgres" -qc "drop database if exists $db_name with (force)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

case "$backend" in
  sqlite) db_url="sqlite://$work/fuzz.db?mode=rwc" ;;
  postgres)
    psql "$pg_server/postgres" -qc "create database $db_name" >/dev/null
    db_url="$pg_server/$db_name"
    ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
password="fuzz-$(date +%s%N)-passphrase"
SIPAS_DATABASE_URL="$db_url" SIPAS_ADMIN_USERNAME=admin SIPAS_ADMIN_PASSWORD="$password" \
  SIPAS_JWT_SECRET="schemathesis-run-secret-at-least-32-bytes-long" \
  SIPAS_LOG="${SIPAS_LOG:-warn}" \
  "$bin" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.2
done

login() {
  curl -fs "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
admin_token="$(login admin "$password")"
# The run's own ministry account, with the highest id: PATCH /users/{id} with the small ids the
# fuzzer tries first can then deactivate the bootstrap admin but not the account the run uses.
fuzzer_password="contract-run-$(date +%s%N)-words"
curl -sS --fail-with-body "$base/api/v1/users" -H "authorization: Bearer $admin_token" \
  -H 'content-type: application/json' \
  -d "{\"username\":\"fuzzer\",\"full_name\":\"Schemathesis\",\"role\":\"ministry\",\"password\":\"$fuzzer_password\"}" >/dev/null
token="$(login fuzzer "$fuzzer_password")"

echo "schemathesis $schemathesis_version against $backend at $base ($examples examples per operation)"
status=0
"$venv/bin/st" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --header "x-sipas-protocol: 1" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --seed 20261207 \
  --workers 1 \
  --no-color \
  --suppress-health-check all || status=$?

if grep -q 'request failed' "$work/server.log"; then
  echo "FAIL: the server logged a failed request (a 500):"
  grep 'request failed' "$work/server.log" | head -20
  status=1
fi
exit "$status"
