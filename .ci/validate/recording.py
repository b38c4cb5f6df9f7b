"""Reading the sandbox's exchange recording (sandbox/src/record.rs): one JSON line per exchange
in <dir>/exchanges-<pid>-<n>.jsonl. Shared by the validators in this directory."""

import base64
import glob
import json
import os
import sys


def load(directory):
    """Every recorded exchange under `directory`, in file order; each gets `_file` and `_line`."""
    files = sorted(glob.glob(os.path.join(directory, "exchanges-*.jsonl")))
    if not files:
        sys.exit(f"no recording in {directory} (exchanges-*.jsonl): was CUSTOMER_DATA_SANDBOX_RECORD set?")
    exchanges = []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    exchange = json.loads(line)
                except json.JSONDecodeError as e:
                    # A line is written whole; a broken one is a recorder bug worth failing on.
                    sys.exit(f"{path}:{number}: not a JSON line: {e}")
                exchange["_file"] = os.path.basename(path)
                exchange["_line"] = number
                exchanges.append(exchange)
    return exchanges


def body_bytes(exchange, key):
    """The request or response body (`key` is "request_body" or "response_body") as bytes."""
    text = exchange.get(key) or ""
    if exchange.get(key + "_base64"):
        return base64.b64decode(text)
    return text.encode("utf-8")


def header(headers, name, default=""):
    """A header by its lower-case name."""
    return (headers or {}).get(name.lower(), default)


def skip_reason(exchange):
    """Why a validator does not judge this exchange, or None."""
    if exchange.get("injected"):
        return "injected"
    if exchange.get("incomplete"):
        return "incomplete"
    if exchange.get("sandbox_only"):
        return "sandbox_only"
    return None


def where(exchange):
    """file:line of an exchange, for messages."""
    return f"{exchange.get('_file')}:{exchange.get('_line')}"
