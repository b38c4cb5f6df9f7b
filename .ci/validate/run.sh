#!/usr/bin/env bash
# The independent validators (README.md here), after the tests: `bash .ci/validate/run.sh WORK`
# where WORK/recording holds the sandbox's recording of the quickstart and the tests
# (CUSTOMER_DATA_SANDBOX_RECORD). Writes WORK/specs, WORK/schemathesis, WORK/sandbox.log.
# Exit status 1 when any self-test or validator fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
work=${1:?usage: run.sh WORK}
started=$SECONDS
sudo=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi

venv=.ci/.venv
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 needs python3-venv for ensurepip.
    rm -rf "$venv"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv" || exit 1
  fi
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/validate/requirements.txt || exit 1
command -v curl >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq curl >/dev/null; }
py="$venv/bin/python"
failed=0

# The OpenAPI documents after load + overlay, before our normalise stage.
cargo run --locked --quiet -p customer-data-codegen -- export-all "$work/specs" >/dev/null || exit 1

echo "-- self-tests: each validator must flag deliberately broken copies of real records"
"$py" .ci/validate/openapi_exchanges.py --self-test --recording "$work/recording" --specs "$work/specs" || failed=1
"$py" .ci/validate/soap_exchanges.py --self-test --recording "$work/recording" || failed=1

echo "-- the recording of the quickstart and the tests"
"$py" .ci/validate/openapi_exchanges.py --recording "$work/recording" --specs "$work/specs" || failed=1
"$py" .ci/validate/soap_exchanges.py --recording "$work/recording" || failed=1

echo "-- schemathesis against the sandbox binary (fresh: the bLink authorization code is single-use)"
cargo build --locked --quiet -p customer-data-sandbox || exit 1
CUSTOMER_DATA_SANDBOX_RECORD="" target/debug/customer-data-sandbox --port 8480 >"$work/sandbox.log" 2>&1 &
sandbox=$!
for _ in $(seq 1 150); do
  curl -s -o /dev/null http://127.0.0.1:8480/carmachain/auth/getToken && break
  sleep 0.2
done
"$py" .ci/validate/schemathesis_twins.py --specs "$work/specs" --work "$work/schemathesis" || failed=1
kill "$sandbox" 2>/dev/null
wait "$sandbox" 2>/dev/null

echo "validators: $((SECONDS - started)) s, $([ "$failed" = 0 ] && echo "no violations" || echo "VIOLATIONS (see above)")"
exit "$failed"
