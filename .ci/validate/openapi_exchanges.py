#!/usr/bin/env python3
"""Validates every recorded exchange of the OpenAPI twins against its exported spec, with
openapi-core (an independent implementation of OpenAPI 3.0; pinned in requirements.txt).

    openapi_exchanges.py --recording DIR --specs DIR [--jobs N] [--self-test]

DIR of --specs holds `<slug>.json`, written by `cargo run -p customer-data-codegen --
export-all DIR`: the vendor's document plus our overlay, before our normalise stage.

Rules (one exchange = a request and its answer, two messages):
* `injected` (fault injection decided the answer), `incomplete` (the answer did not go out
  whole) and `sandbox_only` (our /sandbox/... routes) exchanges are skipped and counted; so are
  calls to a twin's OAuth token endpoint, which stands for the spec's `tokenUrl` and is no
  operation of the spec.
* A request the validator finds invalid (including a path or method the spec does not have) is
  acceptable only when the twin answered it 4xx: a deliberate negative test, counted as
  "refused invalid requests (twin agreed)". Answered with anything else, it is a violation.
* Every answer of a request the spec has an operation for must match the spec: a declared
  status (or `default`), the declared content type, the body schema, the declared headers.

Prints per-slug detail lines, the first violations in full, and last exactly one line
`openapi validator: messages checked N, violations V`. Exit status 1 on any violation.

--self-test: derives deliberately broken records from real, valid ones of the recording (an
answer with a required member removed, a status changed to an undeclared one, a content type
changed, an invalid request answered 2xx) and fails unless every one is flagged.
"""

import argparse
import copy
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections import Counter, defaultdict
from urllib.parse import parse_qsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recording  # noqa: E402

SLUGS = [
    "biq_auth",
    "biq_customer_shadow",
    "biq_alert_changes",
    "blink_customer_management",
    "carmachain",
    "consumer_intelligence",
]

# The twins' OAuth token endpoints: they stand for the spec's oauth2 `tokenUrl` (another host
# for Consumer Intelligence), which is not an operation of the spec.
TWIN_TOKEN_ROUTES = {
    "consumer_intelligence": {"/oauth/token"},
    "blink_customer_management": {"/oauth/token"},
}

HOST = "http://sandbox.invalid"

# openapi-core checks apiKey and http security schemes; oauth2 it only names in a warning.
warnings.filterwarnings("ignore", message="Unsupported scheme type")
SHOWN = 20

_apps = {}
_specs_dir = None


def _init(specs_dir):
    global _specs_dir
    _specs_dir = specs_dir


def load_spec(specs_dir, slug):
    with open(os.path.join(specs_dir, f"{slug}.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    # The twins serve every path right below /<slug>: judge paths, not hosts.
    spec["servers"] = [{"url": HOST}]
    for item in spec.get("paths", {}).values():
        item.pop("servers", None)
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("servers", None)
    return spec


def app_for(slug):
    if slug not in _apps:
        from openapi_core import Config, OpenAPI
        from openapi_core.deserializing.media_types.util import json_loads

        spec = load_spec(_specs_dir, slug)
        # openapi-core reads application/json; every other JSON media type of the spec (RFC
        # 7807's application/problem+json, ...) is JSON too (RFC 6839 "+json" suffix).
        json_types = {t: json_loads for t in media_types(spec) if t.endswith("+json")}
        config = Config(extra_media_type_deserializers=json_types)
        _apps[slug] = (OpenAPI.from_dict(spec, config=config), token_paths(slug, spec), spec)
    return _apps[slug]


def media_types(node):
    """Every media type named under a `content` anywhere in the document."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "content" and isinstance(value, dict):
                found |= {t.lower() for t in value}
            found |= media_types(value)
    elif isinstance(node, list):
        for item in node:
            found |= media_types(item)
    return found


def token_paths(slug, spec):
    """The token endpoints of the spec's oauth2 schemes (their URL path), and the twin's."""
    from urllib.parse import urlparse

    paths = set()
    schemes = spec.get("components", {}).get("securitySchemes", {})
    for scheme in schemes.values():
        if scheme.get("type") != "oauth2":
            continue
        for flow in scheme.get("flows", {}).values():
            for key in ("tokenUrl", "refreshUrl"):
                if flow.get(key):
                    paths.add(urlparse(flow[key]).path)
        paths |= TWIN_TOKEN_ROUTES.get(slug, set())
    return {p for p in paths if p not in spec.get("paths", {})}


def describe(error):
    """The validator's message, with the schema errors behind it."""
    parts = [f"{type(error).__name__}: {error}"]
    seen = set()
    cause = error.__cause__ or error.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for e in list(schema_errors)[:5]:
                path = "/".join(str(p) for p in getattr(e, "absolute_path", []))
                parts.append(f"at /{path}: {getattr(e, 'message', e)}")
        else:
            parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    text = " | ".join(parts)
    return text if len(text) <= 1200 else text[:1200] + "..."


def kind_of(side, error, status):
    """A short class of violation, for the summary."""
    name = type(error).__name__
    if name == "ResponseNotFound":
        return f"{status} undeclared"
    if name in ("PathNotFound", "PathsNotFound", "OperationNotFound"):
        return f"request {name} answered {status}"
    if name == "MediaTypeNotFound":
        return f"{side} content type undeclared ({status})"
    if side == "request":
        return f"invalid request ({name}) answered {status}"
    return f"{status} {name}"


def build(exchange):
    from openapi_core.testing import MockRequest, MockResponse

    headers = exchange.get("request_headers") or {}
    request = MockRequest(
        HOST,
        exchange["method"],
        exchange["path"],
        args=parse_qsl(exchange.get("query") or "", keep_blank_values=True),
        headers=headers,
        data=recording.body_bytes(exchange, "request_body") or None,
        content_type=recording.header(headers, "content-type").lower(),
    )
    # parse_qsl gives a list of pairs: keep repeated parameters (ImmutableMultiDict of pairs).
    from werkzeug.datastructures import ImmutableMultiDict

    request.parameters.query = ImmutableMultiDict(
        parse_qsl(exchange.get("query") or "", keep_blank_values=True)
    )
    response_headers = exchange.get("response_headers") or {}
    response = MockResponse(
        recording.body_bytes(exchange, "response_body"),
        status_code=int(exchange["status"]),
        headers=response_headers,
        content_type=recording.header(response_headers, "content-type").lower(),
    )
    return request, response


def judge(exchange):
    """The outcome of one exchange: (outcome, messages checked, [violations])."""
    slug = exchange["slug"]
    reason = recording.skip_reason(exchange)
    if reason:
        return reason, 0, []
    app, tokens, _ = app_for(slug)
    if exchange["path"] in tokens:
        return "token_endpoint", 0, []
    status = int(exchange["status"])
    request, response = build(exchange)
    violations = []

    def violation(side, error):
        violations.append(
            {
                "slug": slug,
                "method": exchange["method"],
                "path": exchange["path"] + (f"?{exchange['query']}" if exchange.get("query") else ""),
                "status": status,
                "side": side,
                "kind": kind_of(side, error, status),
                "message": describe(error),
                "where": recording.where(exchange),
            }
        )

    from openapi_core.templating.paths.exceptions import PathError

    request_error = None
    try:
        app.validate_request(request)
    except Exception as e:  # noqa: BLE001 - every validator finding counts
        request_error = e
    messages = 1
    outcome = "ok"
    if request_error is not None:
        if 400 <= status < 500:
            outcome = "refused_invalid"
        else:
            violation("request", request_error)
    if isinstance(request_error, PathError):
        # No operation: nothing to judge the answer against.
        return (outcome if not violations else "violation"), messages, violations
    messages += 1
    try:
        app.validate_response(request, response)
    except Exception as e:  # noqa: BLE001
        violation("response", e)
    return ("violation" if violations else outcome), messages, violations


def judge_chunk(chunk):
    return [judge(exchange) for exchange in chunk]


def run(exchanges, jobs):
    """Judges every exchange of the OpenAPI slugs; per-slug counters and all violations."""
    mine = [e for e in exchanges if e.get("slug") in SLUGS]
    chunks = [mine[i : i + 200] for i in range(0, len(mine), 200)]
    if jobs > 1 and len(chunks) > 1:
        with multiprocessing.Pool(jobs, initializer=_init, initargs=(_specs_dir,)) as pool:
            results = [r for chunk in pool.map(judge_chunk, chunks) for r in chunk]
    else:
        results = judge_chunk(mine)
    stats = defaultdict(Counter)
    violations = []
    for exchange, (outcome, messages, found) in zip(mine, results):
        slug_stats = stats[exchange["slug"]]
        slug_stats["exchanges"] += 1
        slug_stats[outcome] += 1
        slug_stats["messages"] += messages
        slug_stats["violations"] += len(found)
        violations.extend(found)
    return stats, violations


def report(stats, violations):
    for slug in SLUGS:
        s = stats.get(slug, Counter())
        kinds = Counter(v["kind"] for v in violations if v["slug"] == slug)
        print(
            f"  {slug}: exchanges {s['exchanges']}, messages checked {s['messages']}, "
            f"violations {s['violations']}; refused invalid requests {s['refused_invalid']} "
            f"(twin agreed); skipped: injected {s['injected']}, incomplete {s['incomplete']}, "
            f"sandbox_only {s['sandbox_only']}, token endpoint {s['token_endpoint']}"
        )
        for kind, n in kinds.most_common():
            print(f"      {n:6} x {kind}")
    # The first violations in full, one per (slug, kind, method, path template) first.
    shown, seen = [], set()
    for v in violations:
        key = (v["slug"], v["kind"], v["method"], v["path"].split("?")[0])
        if key not in seen:
            seen.add(key)
            shown.append(v)
    for v in violations:
        if len(shown) >= SHOWN:
            break
        if v not in shown:
            shown.append(v)
    for v in shown[:SHOWN]:
        print(
            f"VIOLATION {v['slug']} {v['method']} {v['path']} -> {v['status']} "
            f"({v['side']}; {v['where']}): {v['message']}"
        )
    messages = sum(s["messages"] for s in stats.values())
    print(f"openapi validator: messages checked {messages}, violations {len(violations)}")
    return len(violations)


# ---- self-test -------------------------------------------------------------------------------


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for token in node["$ref"].lstrip("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def required_member(spec, schema, value):
    """A (member, ...) path to a required member present in `value`, or None."""
    schema = resolve(spec, schema)
    if not isinstance(schema, dict):
        return None
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name in value:
                return [name]
        for name, member in (schema.get("properties") or {}).items():
            if name in value:
                inner = required_member(spec, member, value[name])
                if inner:
                    return [name] + inner
        for part in schema.get("allOf", []):
            found = required_member(spec, part, value)
            if found:
                return found
    if isinstance(value, list) and value and "items" in schema:
        inner = required_member(spec, schema["items"], value[0])
        if inner:
            return [0] + inner
    return None


def remove(value, path):
    for token in path[:-1]:
        value = value[token]
    del value[path[-1]]


def operation_of(spec, exchange):
    """The spec's (path template, operation) for a recorded request, by template matching."""
    import re

    for template, item in spec.get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, exchange["path"]):
            operation = item.get(exchange["method"].lower())
            if operation:
                return template, operation
    return None, None


def broken_records(exchanges):
    """Deliberately broken copies of real exchanges that validate clean: (what, record)."""
    out = []
    done = set()
    kinds = ("member", "status", "ctype", "request")
    # The same choice in every run: the recording's files are named by process id.
    def stable(exchange):
        return (exchange.get("slug") or "", exchange.get("method") or "", exchange.get("path") or "",
                exchange.get("query") or "", int(exchange.get("status") or 0),
                exchange.get("request_body") or "", exchange.get("response_body") or "")
    for exchange in sorted(exchanges, key=stable):
        if exchange.get("slug") not in SLUGS:
            continue
        if all((exchange["slug"], kind) in done for kind in kinds):
            continue  # this slug has one broken record of every kind already
        outcome, _, found = judge(exchange)
        if outcome != "ok" or found:
            continue
        slug = exchange["slug"]
        _, _, spec = app_for(slug)
        template, operation = operation_of(spec, exchange)
        if operation is None:
            continue
        status = int(exchange["status"])
        responses = operation.get("responses", {})
        content_type = recording.header(exchange["response_headers"], "content-type")
        declared = resolve(spec, responses.get(str(status), {}))
        media = (declared.get("content") or {})

        # 1. A required member removed from a JSON answer.
        if (slug, "member") not in done and "json" in content_type:
            try:
                body = json.loads(recording.body_bytes(exchange, "response_body"))
            except ValueError:
                body = None
            schema = next((m.get("schema") for k, m in media.items() if "json" in k), None)
            path = required_member(spec, schema, body) if schema and body is not None else None
            if path:
                broken = copy.deepcopy(exchange)
                remove(body, path)
                broken["response_body"] = json.dumps(body)
                out.append((f"{slug} {exchange['method']} {template} -> {status}: "
                            f"required member {'/'.join(map(str, path))} removed", broken))
                done.add((slug, "member"))

        # 2. The status changed to one the operation does not declare.
        if (slug, "status") not in done and "default" not in responses:
            broken = copy.deepcopy(exchange)
            broken["status"] = 418
            out.append((f"{slug} {exchange['method']} {template}: status {status} -> 418 "
                        "(undeclared)", broken))
            done.add((slug, "status"))

        # 3. The content type of a JSON answer changed to one not declared. Only where the
        # status declares content: an answer declared without content (e.g. BiQ's bodiless
        # error statuses) has no content type to violate, and the recording's file order
        # (by process id) decides which exchange comes first.
        if (slug, "ctype") not in done and "json" in content_type and media:
            broken = copy.deepcopy(exchange)
            broken["response_headers"]["content-type"] = "text/html"
            out.append((f"{slug} {exchange['method']} {template} -> {status}: content type "
                        "text/html", broken))
            done.add((slug, "ctype"))

        # 4. A request with a JSON body the spec refuses, answered 2xx anyway.
        if (slug, "request") not in done and 200 <= status < 300 and exchange.get("request_body"):
            request_type = recording.header(exchange["request_headers"], "content-type")
            if "json" in request_type:
                broken = copy.deepcopy(exchange)
                broken["request_body"] = "[[[\"not the declared body\"]]]"
                out.append((f"{slug} {exchange['method']} {template}: request body replaced "
                            f"by an undeclared shape, answered {status}", broken))
                done.add((slug, "request"))
    return out


def self_test(exchanges):
    broken = broken_records(exchanges)
    slugs_seen = {e.get("slug") for e in exchanges}
    missed = []
    for what, record in broken:
        outcome, _, found = judge(record)
        flag = "flagged" if found else "NOT FLAGGED"
        print(f"  self-test: {what}: {flag}" + (f" ({found[0]['kind']})" if found else ""))
        if not found:
            missed.append(what)
    kinds = Counter(what.split(":")[-1].split("(")[0].strip() for what, _ in broken)
    if len(broken) < 4 or not any("required member" in w for w, _ in broken):
        print("openapi validator self-test: too few real records to derive broken ones from "
              f"(slugs recorded: {sorted(s for s in slugs_seen if s)})")
        return 1
    print(f"openapi validator self-test: broken records {len(broken)}, flagged "
          f"{len(broken) - len(missed)}, missed {len(missed)}")
    del kinds
    return 1 if missed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", required=True, help="the CUSTOMER_DATA_SANDBOX_RECORD dir")
    parser.add_argument("--specs", required=True, help="the export-all dir (<slug>.json)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    _init(args.specs)
    exchanges = recording.load(args.recording)
    if args.self_test:
        return self_test(exchanges)
    started = time.monotonic()
    stats, violations = run(exchanges, args.jobs)
    print(f"  ({len(exchanges)} exchanges read, judged in {time.monotonic() - started:.1f} s "
          f"with {args.jobs} processes)")
    return 1 if report(stats, violations) else 0


if __name__ == "__main__":
    sys.exit(main())
