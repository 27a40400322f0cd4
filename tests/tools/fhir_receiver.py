#!/usr/bin/env python3
"""A FHIR R4 server stand-in for the notification tests (http.server + fhir.resources).

Accepts POST <base>/ (a transaction Bundle) and POST <base>/Observation, <base>/DiagnosticReport
(resources one by one). Every resource is validated with fhir.resources (R4B models, the R4
structures) plus the checks the node promises: status final/preliminary, Observation code,
valueQuantity probability in [0, 1], interpretation POS/NEG; DiagnosticReport subject by
identifier, imagingStudy by StudyInstanceUID identifier (urn:dicom:uid), results that resolve to
Observations of the same request (transaction) or already created (resources), the AI-GENERATED
disclaimer in the conclusion. Valid: 201 (a Bundle: 200 with a transaction-response). Invalid:
400 with an OperationOutcome. With --token, a request without "Authorization: Bearer <token>"
gets 401. --status answers every request with that status instead (after recording it).
Everything is recorded in --record, one JSON object per request.
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

MODELS = {"Observation": Observation, "DiagnosticReport": DiagnosticReport}


def check_resource(resource, known_observations):
    """Problems of one resource (empty when valid)."""
    kind = resource.get("resourceType")
    if kind not in MODELS:
        return [f"unexpected resourceType {kind!r}"]
    try:
        MODELS[kind].model_validate(resource)
    except Exception as exc:
        return [f"{kind} does not validate: {exc}"]
    errors = []
    if resource.get("status") not in ("final", "preliminary"):
        errors.append(f"{kind}.status is {resource.get('status')!r}")
    if not resource.get("subject", {}).get("identifier", {}).get("value"):
        errors.append(f"{kind}.subject has no identifier")
    if kind == "Observation":
        value = resource.get("valueQuantity", {}).get("value")
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            errors.append("Observation.valueQuantity.value is not a probability")
        codes = {c.get("code") for i in resource.get("interpretation", []) for c in i.get("coding", [])}
        if not codes & {"POS", "NEG"}:
            errors.append("Observation.interpretation is neither POS nor NEG")
        if not resource.get("code", {}).get("coding"):
            errors.append("Observation.code has no coding")
    else:
        studies = resource.get("imagingStudy", [])
        if not studies or studies[0].get("identifier", {}).get("system") != "urn:dicom:uid" or \
                not studies[0]["identifier"].get("value", "").startswith("urn:oid:"):
            errors.append("DiagnosticReport.imagingStudy is not a StudyInstanceUID identifier")
        if "AI-GENERATED" not in resource.get("conclusion", ""):
            errors.append("DiagnosticReport.conclusion lacks the AI-GENERATED disclaimer")
        results = [r.get("reference") for r in resource.get("result", [])]
        if not results:
            errors.append("DiagnosticReport.result is empty")
        for reference in results:
            if reference not in known_observations:
                errors.append(f"DiagnosticReport.result {reference!r} is no Observation sent")
    return errors


def check_bundle(resource, receiver):
    """A transaction Bundle's problems and the references its resources would be created as."""
    if resource.get("resourceType") != "Bundle" or resource.get("type") != "transaction":
        return {"valid": False, "errors": ["the base takes a transaction Bundle"], "created": []}
    try:
        Bundle.model_validate(resource)
    except Exception as exc:
        return {"valid": False, "errors": [f"Bundle does not validate: {exc}"], "created": []}
    errors, created, urls = [], [], {}
    for item in resource.get("entry", []):
        if item.get("request", {}).get("method") != "POST":
            errors.append("an entry's request is not a POST")
        sub = item.get("resource", {})
        found = check_resource(sub, set(urls))
        errors += found
        if not found:
            ref = f"{sub['resourceType']}/{receiver.new_id()}"
            if sub["resourceType"] == "Observation":
                urls[item.get("fullUrl")] = ref
            created.append(ref)
    if not any(i.get("resource", {}).get("resourceType") == "DiagnosticReport" for i in resource.get("entry", [])):
        errors.append("the Bundle has no DiagnosticReport")
    return {"valid": not errors, "errors": errors, "created": created}


class Receiver:
    def __init__(self, args):
        self.args, self.lock, self.next_id = args, threading.Lock(), 0
        self.created = {}  # "Observation/7" -> resource

    def new_id(self):
        self.next_id += 1
        return str(self.next_id)

    def record(self, entry):
        with open(self.args.record, "a") as out:
            out.write(json.dumps(entry) + "\n")


def make_handler(receiver):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, location=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(data)

        def outcome(self, status, errors):
            self.answer(status, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "invalid", "diagnostics": e} for e in errors]})

        def do_POST(self):
            args = receiver.args
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            path = self.path.rstrip("/")
            base = args.base.rstrip("/")
            kind = path[len(base):].strip("/") if path.startswith(base) else None
            entry = {"path": self.path, "content_type": self.headers.get("Content-Type"),
                     "authorization": self.headers.get("Authorization"), "if_none_exist": self.headers.get("If-None-Exist")}
            with receiver.lock:
                try:
                    resource = json.loads(body)
                except ValueError:
                    resource = None
                entry["resource"] = resource
                if args.status:
                    entry.update(valid=None, answer=args.status)
                    receiver.record(entry)
                    return self.outcome(args.status, [f"told to answer {args.status}"])
                if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                    entry.update(valid=False, errors=["no or wrong bearer token"], answer=401)
                    receiver.record(entry)
                    return self.outcome(401, entry["errors"])
                errors, created = self.check(kind, resource)
                entry.update(valid=not errors, errors=errors, answer=400 if errors else 201)
                receiver.record(entry)
                if errors:
                    return self.outcome(400, errors)
                if kind == "":
                    return self.answer(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": [
                        {"response": {"status": "201 Created", "location": ref + "/_history/1"}} for ref in created]})
                self.answer(201, resource, location=f"http://{self.headers.get('Host')}{base}/{created[0]}/_history/1")

        def check(self, kind, resource):
            if not isinstance(resource, dict):
                return ["the body is not JSON"], []
            if self.headers.get("Content-Type", "").split(";")[0] != "application/fhir+json":
                return [f"Content-Type is {self.headers.get('Content-Type')!r}"], []
            if kind == "":
                outcome = check_bundle(resource, receiver)
                return outcome["errors"], outcome["created"]
            if kind not in MODELS or resource.get("resourceType") != kind:
                return [f"POST to {kind!r} with a {resource.get('resourceType')!r}"], []
            errors = check_resource(resource, set(receiver.created))
            if errors:
                return errors, []
            ref = f"{kind}/{receiver.new_id()}"
            receiver.created[ref] = resource
            return [], [ref]

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--base", default="/fhir")
    parser.add_argument("--token", default="")
    parser.add_argument("--status", type=int, default=0, help="answer every request with this status")
    parser.add_argument("--record")
    parser.add_argument("--check", help="check this transaction Bundle file as POSTed, print the JSON, exit")
    args = parser.parse_args()
    if args.check:
        with open(args.check, encoding="utf-8") as bundle:
            print(json.dumps({"checked": True, **check_bundle(json.load(bundle), Receiver(args))}))
        return 0
    if not args.record:
        parser.error("--record is required to listen")
    receiver = Receiver(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(receiver))
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as out:
            out.write(str(server.server_address[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
