#!/usr/bin/env python3
"""An HL7 v2 receiver (a RIS) over MLLP for the notification tests.

Parses every message it gets with the `hl7` package, checks that it is an ORU^R01 v2.5.1 with
the segments and fields the node promises (MSH control id, PID-3, ORC, OBR with order numbers and
result status, the AI-generated disclaimer, the Study Instance UID OBX, NM OBX per finding with a
probability in [0, 1] and an abnormal flag), records what it got (one JSON object per message in
--record) and answers by --answers: a comma-separated list used one per message received, the last
one repeated: AA, AE, AR (an ACK with that code), drop (close without answering) or silent (keep
the connection open, never answer). A message that fails the checks is answered AR whatever the
list says, and recorded with its errors.
"""
import argparse
import json
import os
import socket
import sys
import threading

import hl7

START, END = b"\x0b", b"\x1c\x0d"


def check(message):
    """The problems of an ORU^R01 (an empty list when it is valid) and what the test wants to see."""
    errors, seen = [], {}
    try:
        parsed = hl7.parse(message)
    except Exception as exc:  # hl7 raises several kinds of parse errors
        return [f"not HL7: {exc}"], seen
    names = [str(segment[0]) for segment in parsed]
    for required in ("MSH", "PID", "ORC", "OBR", "OBX"):
        if required not in names:
            errors.append(f"no {required} segment")
    if errors:
        return errors, seen
    msh, pid, obr = parsed.segment("MSH"), parsed.segment("PID"), parsed.segment("OBR")
    field = lambda segment, i: str(segment[i]) if len(segment) > i else ""
    if field(msh, 9) != "ORU^R01^ORU_R01":
        errors.append(f"MSH-9 is {field(msh, 9)!r}, not ORU^R01^ORU_R01")
    if field(msh, 12) != "2.5.1":
        errors.append(f"MSH-12 is {field(msh, 12)!r}, not 2.5.1")
    for i, what in ((3, "sending application"), (7, "date/time"), (10, "control id"), (11, "processing id")):
        if not field(msh, i):
            errors.append(f"MSH-{i} ({what}) is empty")
    if not field(pid, 3):
        errors.append("PID-3 (patient identifier) is empty")
    if not field(obr, 3) or not field(obr, 4):
        errors.append("OBR-3 (filler order number) or OBR-4 (universal service id) is empty")
    if field(obr, 25) not in ("F", "P"):
        errors.append(f"OBR-25 (result status) is {field(obr, 25)!r}")
    notes = [parsed.unescape(field(s, 3)) for s in parsed.segments("NTE")] if "NTE" in names else []
    if not any("AI-GENERATED" in note for note in notes):
        errors.append("no NTE with the AI-GENERATED disclaimer")
    findings, study_uid = [], ""
    for obx in parsed.segments("OBX"):
        kind, code = field(obx, 2), field(obx, 3).split("~")[0].split("^")
        if kind == "ST" and code[0] == "110180":
            study_uid = parsed.unescape(field(obx, 5))
            continue
        if kind != "NM":
            errors.append(f"OBX-{field(obx, 1)} has value type {kind!r}")
            continue
        try:
            probability = float(field(obx, 5))
        except ValueError:
            errors.append(f"OBX-{field(obx, 1)}-5 is not a number")
            continue
        if not 0.0 <= probability <= 1.0:
            errors.append(f"OBX-{field(obx, 1)}-5 is outside [0, 1]")
        flag = field(obx, 8)
        if flag not in ("N", "A", "AA"):
            errors.append(f"OBX-{field(obx, 1)}-8 is {flag!r}, not N, A or AA")
        if len(code) < 3 or not code[0] or not code[2]:
            errors.append(f"OBX-{field(obx, 1)}-3 is not a coded finding")
        findings.append({"code": code[0], "meaning": parsed.unescape(code[1]), "scheme": code[2],
                         "probability": probability, "flag": flag, "reference_range": field(obx, 7)})
    if not study_uid:
        errors.append("no OBX with the Study Instance UID (110180^^DCM)")
    if not findings:
        errors.append("no finding OBX")
    seen = {"control_id": field(msh, 10), "sending_application": field(msh, 3),
            "receiving_application": field(msh, 5), "priority": field(obr, 5), "result_status": field(obr, 25),
            "patient_id": field(pid, 3).split("~")[0].split("^")[0], "patient_name": parsed.unescape(field(pid, 5)),
            "accession_number": parsed.unescape(field(obr, 2)), "study_instance_uid": study_uid,
            "notes": notes, "findings": findings}
    return errors, seen


class Peer:
    def __init__(self, answers, record):
        self.answers, self.record, self.count = answers, record, 0
        self.lock = threading.Lock()

    def next_answer(self):
        with self.lock:
            answer = self.answers[min(self.count, len(self.answers) - 1)]
            self.count += 1
            return answer

    def serve(self, conn):
        buffer = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while START in buffer and END in buffer:
                    start, end = buffer.index(START), buffer.index(END)
                    frame, buffer = buffer[start + 1:end], buffer[end + len(END):]
                    if not self.handle(conn, frame.decode("utf-8", "replace")):
                        return

    def handle(self, conn, text):
        errors, seen = check(text)
        answer = self.next_answer() if not errors else "AR"
        with self.lock, open(self.record, "a") as out:
            out.write(json.dumps({"valid": not errors, "errors": errors, "answer": answer, **seen}) + "\n")
        if answer == "drop":
            return False
        if answer == "silent":
            conn.recv(1)  # hold the connection until the sender gives up
            return False
        ack = hl7.parse(text).create_ack(answer, message_id="ACK" + str(self.count))
        conn.sendall(START + str(ack).encode() + END)
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--port-file", help="where to write the port once listening")
    parser.add_argument("--answers", default="AA")
    parser.add_argument("--record", help="JSON lines, one per message")
    parser.add_argument("--check", help="check this message file (CR-separated segments), print the JSON, exit")
    args = parser.parse_args()
    if args.check:
        with open(args.check, encoding="utf-8", newline="") as message:
            errors, seen = check(message.read())
        print(json.dumps({"checked": True, "valid": not errors, "errors": errors, **seen}))
        return 0
    if not args.record:
        parser.error("--record is required to listen")
    answers = args.answers.split(",")
    for answer in answers:
        if answer not in ("AA", "AE", "AR", "drop", "silent"):
            parser.error(f"unknown answer {answer}")
    peer = Peer(answers, args.record)
    server = socket.create_server(("127.0.0.1", args.port))
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as out:
            out.write(str(server.getsockname()[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"listening on {server.getsockname()[1]}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=peer.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
