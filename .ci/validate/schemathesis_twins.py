#!/usr/bin/env python3
"""A bounded property-based run of schemathesis (pinned in requirements.txt) against every
OpenAPI twin served by the sandbox binary (`customer-data-sandbox --port 8480`).

    schemathesis_twins.py --specs DIR [--base http://127.0.0.1:8480] [--max-examples 20]
                          [--seed 20261204] [--slug SLUG ...]

DIR holds the exported specs (`customer-data-codegen export-all DIR`). Tokens come first, with
curl, from each twin's token endpoint (credentials: sandbox/src/lib.rs `credentials`), and go
into every request as headers. Checks: not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance. Phases: examples, coverage, fuzzing (no
stateful phase: bounded). One line per slug:
`schemathesis <slug>: operations N, test cases M, failures F`. Exit status 1 on any failure.

Exclusions: where a twin answers a status its spec does not declare and the spec says why it
stays undeclared, the check is switched off for that operation here, in EXCLUDED, and printed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SLUGS = [
    "biq_auth",
    "biq_customer_shadow",
    "biq_alert_changes",
    "blink_customer_management",
    "carmachain",
    "consumer_intelligence",
]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

# (slug, operationId, check, reason): printed on every run.
EXCLUDED = []

# The bLink headers every call carries (specs/blink_customer_management.overlay.yaml).
BLINK_HEADERS = {
    "X-Correlation-ID": "schemathesis",
    "User-Agent": "customer-data-ci-schemathesis",
    "X-CorAPI-Target-ID": "sandbox-bank",
    "X-PSU-IP-Address": "AUTO",
    "X-PSU-User-Agent": "customer-data-ci-schemathesis",
}


def curl_json(args):
    """curl with `args`; the JSON answer (the token endpoints' bodies are never printed)."""
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "--max-time", "20", *args],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"token request failed (curl exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def headers_for(slug, base):
    """The headers of every request to `slug`: credentials from its twin's token endpoint (the
    bLink authorization code is single-use: one exchange per sandbox)."""
    if slug in ("biq_customer_shadow", "biq_alert_changes"):
        biq = curl_json(
            ["-X", "POST", f"{base}/biq_auth/api/auth/login", "-H", "Content-Type: application/json",
             "--data", json.dumps({"apikey": "sandbox-api-key"})]
        )["access_token"]
        return {"Authorization": f"Bearer {biq}"}
    if slug == "consumer_intelligence":
        ci = curl_json(
            ["-X", "POST", f"{base}/consumer_intelligence/oauth/token", "-u",
             "sandbox-client:sandbox-secret", "--data", "grant_type=client_credentials&scope=bci"]
        )["access_token"]
        return {"Authorization": f"Bearer {ci}"}
    if slug == "blink_customer_management":
        blink_args = ["-X", "POST", f"{base}/blink_customer_management/oauth/token"]
        for name, value in BLINK_HEADERS.items():
            blink_args += ["-H", f"{name}: {value}"]
        blink_args += ["--data", "grant_type=authorization_code&code=sandbox-consent-code"
                       "&client_id=sandbox-blink-client&username=schemathesis"
                       "&redirect_uri=http%3A%2F%2Flocalhost%2Fcallback"]
        blink = curl_json(blink_args)["access_token"]
        return {"Authorization": f"Bearer {blink}", **BLINK_HEADERS}
    return {}


def parameters_for(slug, base, headers):
    """Path parameters fixed to ids the twin knows (else nearly every generated id is a 404 or
    403 and the answers' schemas go untested): the BiQ tenant, a seeded bLink customer and
    person."""
    if slug in ("biq_customer_shadow", "biq_alert_changes"):
        return {"tenantId": "sandbox-tenant"}
    if slug == "blink_customer_management":
        args = []
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        customer = curl_json([*args, f"{base}/{slug}/customers?limit=1"])[0]
        person = curl_json([*args, f"{base}/{slug}/persons?limit=1"])[0]
        return {
            "customerId": customer["customerIdentification"],
            "personId": person["personIdentification"],
        }
    if slug == "carmachain":
        return {"Authorization": curl_json([f"{base}/carmachain/auth/getToken"])["token"]}
    return {}


def config_file(slug, directory, parameters):
    """A schemathesis.toml: fixed path parameters, and the EXCLUDED checks of `slug`'s
    operations switched off."""
    lines = []
    if parameters:
        lines.append("[parameters]")
        lines += [f"{json.dumps(name)} = {json.dumps(value)}" for name, value in parameters.items()]
        lines.append("")
    for excluded_slug, operation_id, check, reason in EXCLUDED:
        if excluded_slug != slug:
            continue
        print(f"  schemathesis {slug}: check {check} excluded for {operation_id}: {reason}")
        lines += [
            "[[operations]]",
            f'include-operation-id = "{operation_id}"',
            f"checks.{check}.enabled = false",
            "",
        ]
    path = os.path.join(directory, f"{slug}.toml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def summary(report_path):
    """(operations, test cases, failures, failure lines) from schemathesis' NDJSON events. A
    failure is one distinct (operation, check, finding), as schemathesis counts "unique
    failures"."""
    operations, cases, failures = 0, 0, {}
    with open(report_path, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            for name, payload in event.items():
                if name == "LoadingFinished":
                    operations = payload["statistic"]["operations"]["selected"]
                if name != "ScenarioFinished":
                    continue
                recorder = payload.get("recorder") or {}
                label = recorder.get("label", "?")
                cases += len(recorder.get("cases") or {})
                for check_list in (recorder.get("checks") or {}).values():
                    for check in check_list:
                        if check.get("status") != "failure":
                            continue
                        info = (check.get("failure_info") or {}).get("failure") or {}
                        message = " ".join((info.get("message") or "").split())
                        key = (label, check.get("name"), info.get("title", ""), message)
                        failures[key] = failures.get(key, 0) + 1
    details = [
        f"{label}: {check}: {title}: {message} ({n} cases)"
        for (label, check, title, message), n in failures.items()
    ]
    return operations, cases, len(failures), details


def schemathesis_command():
    """The schemathesis of this Python's environment (the CI venv), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    return beside if os.path.exists(beside) else shutil.which("schemathesis")


def run_slug(slug, args, work):
    headers = headers_for(slug, args.base)
    parameters = parameters_for(slug, args.base, headers)
    report = os.path.join(work, f"{slug}.ndjson")
    command = [
        schemathesis_command(), "--config-file", config_file(slug, work, parameters), "run",
        os.path.join(args.specs, f"{slug}.json"),
        "--url", f"{args.base}/{slug}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(args.max_examples),
        "--seed", str(args.seed),
        "--workers", "1",
        "--request-timeout", "10",
        "--suppress-health-check", "all",
        "--continue-on-failure",
        "--no-color",
        "--report", "ndjson",
        "--report-ndjson-path", report,
        "--output-truncate", "true",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    started = time.monotonic()
    # In `work`: schemathesis and hypothesis keep their caches in the current directory.
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    elapsed = time.monotonic() - started
    log = os.path.join(work, f"{slug}.log")
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)
    if not os.path.exists(report):
        print(done.stdout[-3000:] + done.stderr[-3000:])
        print(f"schemathesis {slug}: no report (exit {done.returncode})")
        return 1
    operations, cases, failures, details = summary(report)
    for detail in details[:15]:
        print(f"    {detail[:400]}")
    if failures == 0 and done.returncode != 0:
        # Errors (not check failures): show schemathesis' own words.
        print(done.stdout[-2000:])
        failures = 1
    print(f"  ({slug}: {elapsed:.0f} s; full log {log})")
    print(f"schemathesis {slug}: operations {operations}, test cases {cases}, failures {failures}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", required=True)
    parser.add_argument("--base", default="http://127.0.0.1:8480")
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--slug", action="append", choices=SLUGS)
    parser.add_argument("--work", help="where reports and logs go (default: a temporary dir)")
    args = parser.parse_args()
    if schemathesis_command() is None:
        sys.exit("schemathesis is not installed (pip install -r .ci/validate/requirements.txt)")
    args.specs = os.path.abspath(args.specs)
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="schemathesis-"))
    os.makedirs(work, exist_ok=True)
    failed = 0
    for slug in args.slug or SLUGS:
        failed += run_slug(slug, args, work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
