#!/usr/bin/env python3
"""Validates every recorded SOAP exchange of the AccountsIQ twins against the XSD embedded in
the vendor's WSDL (`specs/<slug>.wsdl`), with lxml/libxml2 (an independent XML Schema
implementation; pinned in requirements.txt).

    soap_exchanges.py --recording DIR [--specs specs] [--self-test]

For each request and answer: the document must be a SOAP 1.1 Envelope with a Body; the first
child element of `soap:Body` is validated against the WSDL's `<xs:schema>` elements (loaded
together, so they may import each other), and so is every `soap:Header` entry the schema
declares. A request's body element must be the input element of a WSDL operation; the answer's
must be that operation's output element, or a SOAP 1.1 Fault, which is validated against the
SOAP 1.1 envelope schema's Fault shape (faultcode, faultstring, faultactor?, detail?). HTTP:
an answer is 200 with `text/xml`, a Fault 500 (SOAP 1.1, section 6.2).

As for the OpenAPI validator: `injected`, `incomplete` and `sandbox_only` exchanges are skipped
and counted; a request the schema refuses is acceptable only when the twin refused it (a Fault
or a 4xx), counted as "refused invalid requests (twin agreed)".

Prints per-slug lines, the first violations in full, then exactly
`soap xsd validator: messages checked N, violations V`. Exit status 1 on any violation.

--self-test: deliberately broken copies of real, valid records (an answer with two elements
swapped out of order, a required element removed, an invalid request answered 200, a Fault
without faultstring, a request body replaced by an element of no operation) must all be flagged.
"""

import argparse
import copy
import os
import sys
import tempfile
from collections import Counter, defaultdict

from lxml import etree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recording  # noqa: E402

SLUGS = ["accountsiq_v1_1", "accountsiq_v2_0"]
XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SHOWN = 20

# The Fault element of the SOAP 1.1 envelope schema (http://schemas.xmlsoap.org/soap/envelope/,
# "Fault reporting structure"), on its own.
FAULT_XSD = f"""<xs:schema xmlns:xs="{XS}" xmlns:tns="{SOAP_ENV}" targetNamespace="{SOAP_ENV}">
  <xs:element name="Fault" type="tns:Fault"/>
  <xs:complexType name="Fault" final="extension">
    <xs:sequence>
      <xs:element name="faultcode" type="xs:QName"/>
      <xs:element name="faultstring" type="xs:string"/>
      <xs:element name="faultactor" type="xs:anyURI" minOccurs="0"/>
      <xs:element name="detail" type="tns:detail" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="detail">
    <xs:sequence>
      <xs:any namespace="##any" minOccurs="0" maxOccurs="unbounded" processContents="lax"/>
    </xs:sequence>
    <xs:anyAttribute namespace="##any" processContents="lax"/>
  </xs:complexType>
</xs:schema>"""


class Contract:
    """One WSDL: its schema and operations (input element -> output element)."""

    def __init__(self, path):
        wsdl = etree.parse(path)
        root = wsdl.getroot()
        schemas = root.findall(f"{{{WSDL}}}types/{{{XS}}}schema")
        if not schemas:
            sys.exit(f"{path}: no <xs:schema> in wsdl:types")
        self.schema = self._load(schemas)
        self.fault = etree.XMLSchema(etree.fromstring(FAULT_XSD.encode()))
        messages = {}
        for message in root.findall(f"{{{WSDL}}}message"):
            part = message.find(f"{{{WSDL}}}part")
            if part is not None and part.get("element"):
                messages[message.get("name")] = self._qname(part, part.get("element"))
        self.outputs = {}
        for operation in root.iter(f"{{{WSDL}}}operation"):
            given = operation.find(f"{{{WSDL}}}input")
            taken = operation.find(f"{{{WSDL}}}output")
            if given is None or taken is None or not given.get("message"):
                continue  # a binding's operation, not a portType's
            source = messages.get(given.get("message").split(":")[-1])
            target = messages.get(taken.get("message").split(":")[-1])
            if source and target:
                self.outputs[source] = target
        self.elements = {
            f"{{{s.get('targetNamespace')}}}{e.get('name')}"
            for s in schemas
            for e in s.findall(f"{{{XS}}}element")
        }

    @staticmethod
    def _qname(node, text):
        prefix, _, local = text.rpartition(":")
        return f"{{{node.nsmap.get(prefix or None)}}}{local}"

    @staticmethod
    def _load(schemas):
        """All schemas together: one directly, several through a schema importing each."""
        by_namespace = defaultdict(list)
        for schema in schemas:
            by_namespace[schema.get("targetNamespace", "")].append(schema)
        merged = []
        for namespace, group in by_namespace.items():
            # A schema on its own, with every namespace declaration in scope where it stood
            # (QName values such as type="tns:X" need the WSDL's prefixes).
            first = etree.Element(group[0].tag, attrib=dict(group[0].attrib), nsmap=group[0].nsmap)
            for child in group[0]:
                first.append(copy.deepcopy(child))
            for other in group[1:]:
                for child in other:
                    first.append(copy.deepcopy(child))
            merged.append((namespace, first))
        if len(merged) == 1:
            return etree.XMLSchema(merged[0][1])
        directory = tempfile.mkdtemp(prefix="wsdl-xsd-")
        imports = []
        for n, (namespace, schema) in enumerate(merged):
            # Imports between the embedded schemas name no location: point them at the files.
            for imp in schema.findall(f"{{{XS}}}import"):
                for m, (other, _) in enumerate(merged):
                    if imp.get("namespace") == other:
                        imp.set("schemaLocation", f"schema-{m}.xsd")
            file = os.path.join(directory, f"schema-{n}.xsd")
            etree.ElementTree(schema).write(file)
            imports.append(f'<xs:import namespace="{namespace}" schemaLocation="{file}"/>')
        main = f'<xs:schema xmlns:xs="{XS}">{"".join(imports)}</xs:schema>'
        return etree.XMLSchema(etree.fromstring(main.encode(), base_url=directory + "/"))


def errors_of(schema, element):
    """The schema's complaints about `element` (validated as a document of its own)."""
    document = etree.ElementTree(copy.deepcopy(element))
    if schema.validate(document):
        return []
    messages = []
    for e in schema.error_log:
        if e.message not in messages:
            messages.append(e.message)
    return messages[:5]


def parse_envelope(text):
    """(body child, header entries, problem): the SOAP 1.1 envelope's parts."""
    try:
        root = etree.fromstring(text)
    except etree.XMLSyntaxError as e:
        return None, [], f"not XML: {e}"
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        return None, [], f"the root is {root.tag}, not a SOAP 1.1 Envelope"
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        return None, [], "the Envelope has no Body"
    children = [c for c in body if isinstance(c.tag, str)]
    if not children:
        return None, [], "the Body is empty"
    header = root.find(f"{{{SOAP_ENV}}}Header")
    entries = [c for c in header if isinstance(c.tag, str)] if header is not None else []
    return children[0], entries, None


def message_errors(contract, element, entries, side):
    """Problems of one message's body element and declared header entries."""
    found = []
    if element.tag == f"{{{SOAP_ENV}}}Fault":
        if side == "request":
            return ["a request whose body is a SOAP Fault"]
        return [f"Fault: {m}" for m in errors_of(contract.fault, element)]
    if element.tag not in contract.elements:
        return [f"{element.tag} is no element of the WSDL's schema"]
    found += errors_of(contract.schema, element)
    for entry in entries:
        if entry.tag in contract.elements:
            found += [f"header {entry.tag}: {m}" for m in errors_of(contract.schema, entry)]
    return found


def judge(contracts, exchange):
    """(outcome, messages checked, [violations]) of one exchange."""
    reason = recording.skip_reason(exchange)
    if reason:
        return reason, 0, []
    slug = exchange["slug"]
    contract = contracts[slug]
    status = int(exchange["status"])
    violations = []

    def violation(side, kind, messages):
        violations.append(
            {
                "slug": slug,
                "method": exchange["method"],
                "path": exchange["path"],
                "status": status,
                "side": side,
                "kind": kind,
                "message": " | ".join(messages),
                "where": recording.where(exchange),
                "operation": operation,
            }
        )

    request, request_entries, problem = parse_envelope(recording.body_bytes(exchange, "request_body"))
    operation = etree.QName(request).localname if request is not None else "?"
    response, response_entries, response_problem = parse_envelope(
        recording.body_bytes(exchange, "response_body")
    )
    is_fault = response is not None and response.tag == f"{{{SOAP_ENV}}}Fault"
    refused = is_fault or 400 <= status < 500
    messages = 1
    request_errors = [problem] if problem else message_errors(contract, request, request_entries, "request")
    if request is not None and request.tag not in contract.outputs and not problem:
        request_errors.append(f"{request.tag} is the input of no WSDL operation")
    outcome = "ok"
    if request_errors:
        if refused:
            outcome = "refused_invalid"
        else:
            violation("request", "invalid request answered " + str(status), request_errors)
    if response_problem and not (400 <= status < 500 and problem):
        messages += 1
        violation("response", "answer is no SOAP envelope", [response_problem])
    elif response is not None:
        messages += 1
        errors = message_errors(contract, response, response_entries, "response")
        if errors:
            violation("response", "Fault shape" if is_fault else "answer invalid", errors)
        expected = contract.outputs.get(request.tag) if request is not None else None
        if not is_fault and expected and response.tag != expected:
            violation("response", "answer is another operation's", [f"{response.tag}, expected {expected}"])
        wanted = 500 if is_fault else 200
        if status != wanted:
            violation("response", f"{'Fault' if is_fault else 'answer'} with HTTP {status}",
                      [f"SOAP 1.1 over HTTP: {'a Fault is 500' if is_fault else 'an answer is 200'}"])
        content_type = recording.header(exchange.get("response_headers"), "content-type")
        if not content_type.lower().startswith("text/xml"):
            violation("response", "content type not text/xml", [f"content-type `{content_type}`"])
    return ("violation" if violations else outcome), messages, violations


def run(contracts, exchanges):
    stats = defaultdict(Counter)
    violations = []
    for exchange in exchanges:
        if exchange.get("slug") not in SLUGS:
            continue
        outcome, messages, found = judge(contracts, exchange)
        s = stats[exchange["slug"]]
        s["exchanges"] += 1
        s[outcome] += 1
        s["messages"] += messages
        s["violations"] += len(found)
        violations.extend(found)
    return stats, violations


def report(stats, violations):
    for slug in SLUGS:
        s = stats.get(slug, Counter())
        print(
            f"  {slug}: exchanges {s['exchanges']}, messages checked {s['messages']}, "
            f"violations {s['violations']}; refused invalid requests {s['refused_invalid']} "
            f"(twin agreed); skipped: injected {s['injected']}, incomplete {s['incomplete']}, "
            f"sandbox_only {s['sandbox_only']}"
        )
        kinds = Counter(f"{v['kind']} ({v['operation']})" for v in violations if v["slug"] == slug)
        for kind, n in kinds.most_common(15):
            print(f"      {n:6} x {kind}")
    shown, seen = [], set()
    for v in violations:
        key = (v["slug"], v["kind"], v["operation"])
        if key not in seen:
            seen.add(key)
            shown.append(v)
    for v in shown[:SHOWN]:
        print(
            f"VIOLATION {v['slug']} {v['operation']} -> {v['status']} ({v['side']}; "
            f"{v['where']}): {v['kind']}: {v['message']}"
        )
    messages = sum(s["messages"] for s in stats.values())
    print(f"soap xsd validator: messages checked {messages}, violations {len(violations)}")
    return len(violations)


# ---- self-test -------------------------------------------------------------------------------


def with_body(exchange, key, mutate):
    """A copy of `exchange` whose `key` envelope's body child went through `mutate`; or None."""
    root = etree.fromstring(recording.body_bytes(exchange, key))
    body = root.find(f"{{{SOAP_ENV}}}Body")
    child = [c for c in body if isinstance(c.tag, str)][0]
    if not mutate(child):
        return None
    broken = copy.deepcopy(exchange)
    broken[key] = etree.tostring(root, encoding="unicode")
    broken.pop(key + "_base64", None)
    return broken


def swap_two(element):
    """Swaps the first two differently named neighbour elements anywhere below `element`."""
    for parent in element.iter():
        kids = [c for c in parent if isinstance(c.tag, str)]
        for a, b in zip(kids, kids[1:]):
            if a.tag != b.tag:
                parent.remove(b)
                a.addprevious(b)
                return True
    return False


def drop_required(contract):
    def mutate(element):
        # The deepest element whose removal the schema refuses: try each and keep the first.
        for candidate in list(element.iter())[1:]:
            parent = candidate.getparent()
            position = parent.index(candidate)
            parent.remove(candidate)
            if errors_of(contract.schema, element):
                return True
            parent.insert(position, candidate)
        return False

    return mutate


def broken_records(contracts, exchanges):
    out, done = [], set()
    # The same choice in every run: the recording's files are named by process id.
    exchanges = sorted(exchanges, key=lambda e: (e.get("slug") or "", e.get("path") or "",
                                                 e.get("request_body") or "",
                                                 e.get("response_body") or ""))
    for exchange in exchanges:
        slug = exchange.get("slug")
        if slug not in SLUGS:
            continue
        outcome, _, found = judge(contracts, exchange)
        if outcome != "ok" or found:
            continue
        contract = contracts[slug]
        operation = etree.QName(parse_envelope(recording.body_bytes(exchange, "request_body"))[0]).localname
        candidates = [
            ("order", "answer with two elements out of order", "response_body", swap_two),
            ("required", "answer with a required element removed", "response_body", drop_required(contract)),
            ("request", "request with two elements out of order, answered 200", "request_body", swap_two),
            ("unknown", "request body replaced by an element of no operation, answered 200", "request_body",
             lambda e: e.set("dummy", "1") or setattr(e, "tag", "{urn:nowhere}NoSuchOperation") or True),
        ]
        # Only exchanges answered 200 with a result: a broken request answered with a Fault is
        # a refusal (not a violation), and a Fault is no operation's answer.
        fault = "Fault>" in (exchange.get("response_body") or "") or int(exchange.get("status") or 0) != 200
        for key, what, side, mutate in candidates:
            if (slug, key) in done or fault:
                continue
            broken = with_body(exchange, side, mutate)
            if broken is not None:
                out.append((f"{slug} {operation}: {what}", broken))
                done.add((slug, key))
    # A Fault without faultstring, from a real Fault of any slug.
    for exchange in exchanges:
        if exchange.get("slug") in SLUGS and "Fault>" in (exchange.get("response_body") or ""):
            if judge(contracts, exchange)[2]:
                continue

            def no_faultstring(fault):
                node = fault.find("faultstring")
                if node is None:
                    return False
                fault.remove(node)
                return True

            broken = with_body(exchange, "response_body", no_faultstring)
            if broken is not None:
                out.append((f"{exchange['slug']}: a Fault without faultstring", broken))
                break
    return out


def self_test(contracts, exchanges):
    broken = broken_records(contracts, exchanges)
    missed = []
    for what, record in broken:
        _, _, found = judge(contracts, record)
        print(f"  self-test: {what}: {'flagged (' + found[0]['kind'] + ')' if found else 'NOT FLAGGED'}")
        if not found:
            missed.append(what)
    if len(broken) < 4:
        print("soap xsd validator self-test: too few real records to derive broken ones from")
        return 1
    print(f"soap xsd validator self-test: broken records {len(broken)}, flagged "
          f"{len(broken) - len(missed)}, missed {len(missed)}")
    return 1 if missed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", required=True)
    parser.add_argument("--specs", default=os.path.join(os.path.dirname(__file__), "..", "..", "specs"))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    contracts = {slug: Contract(os.path.join(args.specs, f"{slug}.wsdl")) for slug in SLUGS}
    exchanges = recording.load(args.recording)
    if args.self_test:
        return self_test(contracts, exchanges)
    stats, violations = run(contracts, exchanges)
    return 1 if report(stats, violations) else 0


if __name__ == "__main__":
    sys.exit(main())
