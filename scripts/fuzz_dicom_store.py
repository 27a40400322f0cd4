#!/usr/bin/env python3
"""A bounded mutation run of the node's DICOM port: hostile associations and C-STORE datasets.

Starts the built node (demo weights, a throwaway config and data directory, loopback ports) and
sends it, from a fixed seed:
  * mutated A-ASSOCIATE-RQ PDUs and PDU streams over raw sockets (byte flips, truncations,
    lengths that lie, unknown PDU types, oversize items, garbage after a valid request);
  * mutated C-STORE datasets of the bundled example (byte flips and lying element lengths in
    the header, truncations, inserted bytes, deep sequences, another SOP class), through
    build/tests/support/evax-test-raw-store, which puts the bytes on the wire unparsed.

It asserts what the node promises: every association is answered (accept, reject or abort) or
closed within the ACSE timeout; every store gets a DIMSE status or an abort; the process never
dies; no temporary file is left behind; the log stays UTF-8 without control characters; and afterwards the node is alive (/healthz), still
stores the clean example (0x0000) and logged no session failure. Exit 0 when every promise held,
1 with the list of findings otherwise.

usage: scripts/fuzz_dicom_store.py [--build build] [--associations 300] [--stores 200] [--seed 1]
Not part of CTest (minutes); the README's tests section says how and when to run it.
"""
import argparse
import collections
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

from local_services import free_port

DX = "1.2.840.10008.5.1.4.1.1.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"


def item(kind, payload):
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def associate_rq(called="EVAX", calling="FUZZ", abstract=DX, syntaxes=(EXPLICIT_LE, IMPLICIT_LE)):
    """A well-formed A-ASSOCIATE-RQ PDU (PS3.8 9.3.2)."""
    context = struct.pack(">BBBB", 1, 0, 0, 0) + item(0x30, abstract.encode())
    for ts in syntaxes:
        context += item(0x40, ts.encode())
    user = item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4") + item(0x55, b"FUZZ")
    body = struct.pack(">H2x", 1) + called.ljust(16).encode() + calling.ljust(16).encode() + bytes(32)
    body += item(0x10, APP_CONTEXT.encode()) + item(0x20, context) + item(0x50, user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def mutate_association(rng, valid):
    """One hostile byte stream for a fresh connection, and the name of the mutation."""
    kind = rng.choice(["flip", "truncate", "pdu-length", "item-length", "pdu-type", "huge-ae-item",
                       "garbage-after", "empty", "random", "release-first", "many-contexts"])
    data = bytearray(valid)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        data = data[: rng.randrange(1, len(data))]
    elif kind == "pdu-length":
        data[2:6] = struct.pack(">I", rng.choice([0, 1, 5, len(valid) + 1000, 0x7FFFFFFF, 0xFFFFFFFF]))
    elif kind == "item-length":
        # Lie in the length of the application-context item (first item after the 74-byte header).
        data[6 + 68 + 2: 6 + 68 + 4] = struct.pack(">H", rng.choice([0, 1, 0xFFFF, 300]))
    elif kind == "pdu-type":
        data[0] = rng.choice([0x00, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xFF])
    elif kind == "huge-ae-item":
        data = bytearray(associate_rq(abstract=DX + "." + "9" * 60))
    elif kind == "garbage-after":
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    elif kind == "empty":
        data = bytearray()
    elif kind == "random":
        data = bytearray(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    elif kind == "release-first":
        data = bytearray(struct.pack(">BBI", 0x05, 0, 4) + bytes(4))
    elif kind == "many-contexts":
        rq = associate_rq()
        extra = b"".join(item(0x20, struct.pack(">BBBB", 3 + 2 * i, 0, 0, 0) + item(0x30, DX.encode()) + item(0x40, EXPLICIT_LE.encode()))
                         for i in range(rng.randint(100, 127)))
        body = rq[6:] + extra
        data = bytearray(struct.pack(">BBI", 0x01, 0, len(body)) + body)
    return kind, bytes(data)


def probe_association(port, data, timeout):
    """What the node did with one byte stream: the PDU type it answered, 'closed' or 'silent'."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            if data:
                s.sendall(data)
            answer = s.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        except socket.timeout:
            return "silent"
    if not answer:
        return "closed"
    return {0x02: "accepted", 0x03: "rejected", 0x07: "aborted"}.get(answer[0], "pdu-0x%02x" % answer[0])


def dataset_of(path):
    """The dataset bytes of a Part 10 file (after its meta group) and its transfer syntax."""
    raw = open(path, "rb").read()
    assert raw[128:132] == b"DICM", "not a Part 10 file"
    group_length = struct.unpack("<I", raw[132 + 8: 132 + 12])[0]
    start = 132 + 12 + group_length
    return raw[start:]


def elements(dataset):
    """(offset, tag, vr, value offset, length) of the top-level explicit-LE elements before pixel data."""
    out, i = [], 0
    while i + 8 <= len(dataset):
        group, element = struct.unpack("<HH", dataset[i:i + 4])
        vr = dataset[i + 4:i + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV"):
            length, header = struct.unpack("<I", dataset[i + 8:i + 12])[0], 12
        else:
            length, header = struct.unpack("<H", dataset[i + 6:i + 8])[0], 8
        out.append((i, (group, element), vr, i + header, length))
        if (group, element) == (0x7FE0, 0x0010) or length == 0xFFFFFFFF:
            break
        i += header + length
    return out


def with_fresh_instance_uid(rng, dataset):
    """The dataset under a new SOP Instance UID of the same length, and that UID: each store is a
    new instance, so accepted ones are analysed rather than answered as duplicates."""
    at = next(e for e in elements(dataset) if e[1] == (0x0008, 0x0018))
    old = dataset[at[3]:at[3] + at[4]]
    digits = len(old.rstrip(b"\0")) - len("2.25.")
    uid = "2.25." + str(rng.randrange(10 ** (digits - 1), 10 ** digits))
    return dataset[:at[3]] + uid.encode().ljust(at[4], b"\0") + dataset[at[3] + at[4]:], uid


def mutate_dataset(rng, dataset):
    """One hostile dataset and the name of the mutation."""
    header_end = next((e[0] for e in elements(dataset) if e[1] == (0x7FE0, 0x0010)), min(len(dataset), 4096))
    kind = rng.choice(["flip-header", "element-length", "truncate", "insert", "deep-sequence", "ct-class",
                       "drop-pixels", "undefined-length", "flip-anywhere"])
    data = bytearray(dataset)
    if kind == "flip-header":
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(header_end)] ^= 1 << rng.randrange(8)
    elif kind == "flip-anywhere":
        for _ in range(rng.randint(1, 32)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "element-length":
        offset, tag, vr, value_at, length = rng.choice(elements(dataset))
        if value_at - offset == 12:
            data[offset + 8:offset + 12] = struct.pack("<I", rng.choice([0, 1, 0xFFFFFFFE, length + 1, 0x7FFFFFFF]))
        else:
            data[offset + 6:offset + 8] = struct.pack("<H", rng.choice([0, 1, 0xFFFF, length + 1]))
    elif kind == "truncate":
        data = data[: rng.randrange(1, len(data))]
    elif kind == "insert":
        at = rng.randrange(header_end)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == "deep-sequence":
        depth = rng.choice([10, 65, 200, 2000])
        nested = b""
        for _ in range(depth):  # (0040,A730) SQ of one item holding the next, undefined lengths
            nested = (struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
                      + nested + struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
        at = next(e[0] for e in elements(dataset) if e[1] >= (0x0040, 0xA730))
        data[at:at] = nested
    elif kind == "ct-class":
        data = bytearray(bytes(data).replace(DX.encode() + b"\0", CT.encode().ljust(len(DX) + 1, b"\0")[: len(DX) + 1], 1))
    elif kind == "drop-pixels":
        data = data[:header_end]
    elif kind == "undefined-length":
        offset, tag, vr, value_at, length = rng.choice([e for e in elements(dataset) if e[3] - e[0] == 12] or elements(dataset)[:1])
        data[offset + 8:offset + 12] = struct.pack("<I", 0xFFFFFFFF)
    return kind, bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--associations", type=int, default=300)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    node_binary = os.path.join(root, args.build, "app", "evax-node")
    raw_store = os.path.join(root, args.build, "tests", "support", "evax-test-raw-store")
    for binary in (node_binary, raw_store):
        if not os.access(binary, os.X_OK):
            sys.exit(f"fuzz: {binary} is missing: build first (bash scripts/build.sh)")
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="evax-fuzz-dicom-")
    port, http_port = free_port(), free_port()
    token = "fuzz-" + hashlib.sha256(str(args.seed).encode()).hexdigest()[:16]
    config = json.load(open(os.path.join(root, "packaging", "evax-node.example.json")))
    config["dicom"].update({"port": port, "acse_timeout_s": 2, "dimse_timeout_s": 3})
    config["storage"].update({"data_dir": os.path.join(work, "data"), "min_free_mb": 64})
    config["study"]["quiet_period_s"] = 1
    config["http"].update({"port": http_port, "listen_address": "127.0.0.1",
                           "tokens": [{"sha256": hashlib.sha256(token.encode()).hexdigest(), "role": "read", "name": "fuzz"}]})
    config_path = os.path.join(work, "evax-node.json")
    json.dump(config, open(config_path, "w"))
    log_path = os.path.join(work, "node.log")
    node = subprocess.Popen([node_binary, "serve", "--config", config_path], stderr=open(log_path, "w"))
    findings = []
    started = time.monotonic()
    try:
        for _ in range(300):
            if " node ready: " in open(log_path, errors="replace").read():
                break
            if node.poll() is not None:
                sys.exit("fuzz: the node did not start:\n" + open(log_path, errors="replace").read())
            time.sleep(0.1)

        valid = associate_rq()
        association_outcomes = collections.Counter()
        for n in range(args.associations):
            kind, data = mutate_association(rng, valid)
            outcome = probe_association(port, data, timeout=config["dicom"]["acse_timeout_s"] + 3)
            association_outcomes[(kind, outcome)] += 1
            if outcome == "silent" or outcome.startswith("pdu-"):
                findings.append(f"association #{n} ({kind}): {outcome}")
            if node.poll() is not None:
                findings.append(f"the node died after association #{n} ({kind}) with status {node.returncode}")
                break

        example = dataset_of(os.path.join(root, "examples", "synthetic_chest_pa.dcm"))
        sample = os.path.join(work, "dataset.bin")
        store_outcomes = collections.Counter()
        for n in range(args.stores if node.poll() is None else 0):
            fresh, uid = with_fresh_instance_uid(rng, example)
            kind, data = mutate_dataset(rng, fresh)
            open(sample, "wb").write(data)
            try:
                sent = subprocess.run([raw_store, "EVAX", str(port), DX, uid, EXPLICIT_LE, sample],
                                      capture_output=True, text=True, timeout=30)
                answer = (sent.stdout.strip().splitlines() or [f"exit {sent.returncode}"])[-1]
            except subprocess.TimeoutExpired:
                answer = "no answer in 30 s"
            outcome = answer.split(":")[0] if not answer.startswith("status") else answer
            store_outcomes[(kind, outcome)] += 1
            if not (answer.startswith("status 0x") or answer.startswith("aborted")):
                findings.append(f"store #{n} ({kind}): {answer}")
            if node.poll() is not None:
                findings.append(f"the node died after store #{n} ({kind}) with status {node.returncode}")
                break

        # Afterwards: alive, still storing, nothing half-written, no session that fell over.
        if node.poll() is None:
            try:
                alive = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5).status == 200
            except OSError as e:
                alive = False
                findings.append(f"/healthz failed afterwards: {e}")
            fresh, uid = with_fresh_instance_uid(rng, example)
            open(sample, "wb").write(fresh)
            clean = subprocess.run([raw_store, "EVAX", str(port), DX, uid, EXPLICIT_LE, sample],
                                   capture_output=True, text=True, timeout=30).stdout.strip()
            if clean != "status 0x0000":
                findings.append(f"the clean example afterwards was answered: {clean!r}")
            leftovers = os.listdir(os.path.join(work, "data", "tmp")) if os.path.isdir(os.path.join(work, "data", "tmp")) else []
            if leftovers:
                findings.append(f"{len(leftovers)} temporary file(s) left in data/tmp")
            raw_log = open(log_path, "rb").read()
            try:
                raw_log.decode("utf-8")
            except UnicodeDecodeError as e:
                findings.append(f"the node log is not UTF-8 at byte {e.start}: {raw_log[max(0, e.start - 60):e.start + 20]!r}")
            if any(b in raw_log for b in (b"\x1b", b"\x07")):
                findings.append("a terminal control character reached the node log")
            log = raw_log.decode("utf-8", "replace")
            for bad in ("session-failed", "terminate called", "Segmentation fault"):
                if bad in log:
                    findings.append(f"the node log says {bad!r}")
            print(f"fuzz: /healthz {'200' if alive else 'failed'}; clean example afterwards: {clean}")
    finally:
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
                findings.append("the node did not stop within 60 s of SIGTERM")
        if node.returncode not in (0, None):
            findings.append(f"the node exited with status {node.returncode}")

    print(f"fuzz: seed {args.seed}, {sum(association_outcomes.values())} associations, "
          f"{sum(store_outcomes.values())} stores, {time.monotonic() - started:.0f} s")
    for title, counter in (("associations", association_outcomes), ("stores", store_outcomes)):
        print(f"  {title} (mutation: outcome x count):")
        for (kind, outcome), count in sorted(counter.items()):
            print(f"    {kind}: {outcome} x {count}")
    if findings:
        print(f"fuzz: {len(findings)} finding(s):")
        for f in findings:
            print("  - " + f)
        print(f"fuzz: the node's log and data are in {work}")
        return 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("fuzz: every association and store was answered; the node stayed up and clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
