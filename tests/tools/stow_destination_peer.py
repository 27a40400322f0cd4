"""A STOW-RS server with chosen answers, for the node's DICOMweb destination tests.

Each POST to .../studies/{uid} is answered by the next entry of --script (then by "ok" for
ever after):
  ok        200, DICOM JSON: every instance in ReferencedSOPSequence (parsed with pydicom)
  xml       200, the same as application/dicom+xml (Native DICOM Model)
  503, 400, 409, ...   that HTTP status, no body
  drop      read the request, close the connection without an answer
  fail:XXXX 409 with every instance in FailedSOPSequence, FailureReason 0xXXXX
  partial:XXXX  202: the first instance stored, the others failed with 0xXXXX
With --bearer TOKEN or --basic USER:PASSWORD a request without those credentials gets 401
(and does not use up a script entry). Every request is appended to --log as one JSON line:
path, content type, whether the credentials were right, the parts' SOP Instance UIDs, SOP
classes and StudyInstanceUIDs, and the answer. Listens on 127.0.0.1:--port.
"""
import argparse
import base64
import email.parser
import email.policy
import io
import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pydicom


def parse_parts(content_type, body):
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts = []
    for part in message.iter_parts():
        data = part.get_payload(decode=True)
        ds = pydicom.dcmread(io.BytesIO(data))
        parts.append({"content_type": part.get_content_type(), "sop_instance_uid": str(ds.SOPInstanceUID),
                      "sop_class_uid": str(ds.SOPClassUID), "study_instance_uid": str(ds.StudyInstanceUID),
                      "bytes": len(data)})
    return parts


def json_response(referenced, failed):
    body = {}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": [
            {"00081150": {"vr": "UI", "Value": [c]}, "00081155": {"vr": "UI", "Value": [u]}} for c, u in referenced]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [
            {"00081150": {"vr": "UI", "Value": [c]}, "00081155": {"vr": "UI", "Value": [u]},
             "00081197": {"vr": "US", "Value": [r]}} for c, u, r in failed]}
    return json.dumps(body).encode()


def xml_response(referenced):
    items = "".join(
        f'<Item number="{i + 1}"><DicomAttribute tag="00081150" vr="UI" keyword="ReferencedSOPClassUID">'
        f'<Value number="1">{c}</Value></DicomAttribute><DicomAttribute tag="00081155" vr="UI" '
        f'keyword="ReferencedSOPInstanceUID"><Value number="1">{u}</Value></DicomAttribute></Item>'
        for i, (c, u) in enumerate(referenced))
    return ('<?xml version="1.0" encoding="UTF-8"?><NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">'
            f'<DicomAttribute tag="00081199" vr="SQ" keyword="ReferencedSOPSequence">{items}</DicomAttribute>'
            '</NativeDicomModel>').encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script", default="")
    ap.add_argument("--bearer")
    ap.add_argument("--basic")
    args = ap.parse_args()
    script = [s for s in args.script.split(",") if s]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def credentials_ok(self):
            auth = self.headers.get("Authorization", "")
            if args.bearer:
                return auth == "Bearer " + args.bearer
            if args.basic:
                return auth == "Basic " + base64.b64encode(args.basic.encode()).decode()
            return True

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            content_type = self.headers.get("Content-Type", "")
            entry = {"path": self.path, "content_type": content_type, "accept": self.headers.get("Accept", ""),
                     "authorized": self.credentials_ok()}
            try:
                entry["parts"] = parse_parts(content_type, body)
            except Exception as e:  # noqa: BLE001 - recorded for the test to see
                entry["parts"] = []
                entry["parse_error"] = str(e)
            with lock:
                action = "401" if not entry["authorized"] else (script.pop(0) if script else "ok")
            entry["answer"] = action
            with open(args.log, "a") as log:
                log.write(json.dumps(entry) + "\n")
            sops = [(p["sop_class_uid"], p["sop_instance_uid"]) for p in entry["parts"]]
            if action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if action == "ok":
                self.answer(200, "application/dicom+json", json_response(sops, []))
            elif action == "xml":
                self.answer(200, "application/dicom+xml", xml_response(sops))
            elif action.startswith("fail:"):
                reason = int(action[5:], 16)
                self.answer(409, "application/dicom+json", json_response([], [(c, u, reason) for c, u in sops]))
            elif action.startswith("partial:"):
                reason = int(action[8:], 16)
                self.answer(202, "application/dicom+json",
                            json_response(sops[:1], [(c, u, reason) for c, u in sops[1:]]))
            else:
                self.answer(int(action), "text/plain", b"")

        def answer(self, status, content_type, body):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer" if args.bearer else 'Basic realm="stow"')
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", args.port), Handler)
    print("listening", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
