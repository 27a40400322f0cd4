#!/usr/bin/env python3
"""Raw-socket mutation fuzzing of evax-node's admin HTTP parser (stdlib only; a test tool,
never part of the node). Sends mutated request lines and headers (byte flips, truncations,
oversize fields, odd versions, bogus Content-Length / Transfer-Encoding) and checks that every
answer is a well-formed "HTTP/1.x <code> <reason>" status line with a JSON body (or that the
connection closes without one), that the node never stops answering, and that /healthz works
afterwards. Usage: fuzz_admin_http.py PORT TOKEN [--cases N] [--seed S] [--seconds T]
Exit status 0 when every case passed; the failures are printed."""
import argparse
import json
import random
import re
import socket
import sys
import time

STATUS_LINE = re.compile(rb"^HTTP/1\.[01] [1-5][0-9][0-9] [A-Za-z][A-Za-z -]*$")

BASES = [
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /api/v1/jobs?limit=5&offset=0&since=2026-01-01T00:00:00Z HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer TOKEN\r\n\r\n",
    b"POST /api/v1/jobs/1/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer TOKEN\r\nContent-Length: 4\r\n\r\nbody",
    b"GET /readyz HTTP/1.0\r\nAuthorization: bearer TOKEN\r\n\r\n",
    b"HEAD /api/v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\nConnection: close\r\n\r\n",
]
ODD = [b"HTTP/0.9", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/1", b"http/1.1", b"HTTP/11.1", b"HTTP/1.1 ", b"", b"HTTP/\xff.1", b"garbage"]
BOGUS_HEADERS = [
    b"Content-Length: abc", b"Content-Length: -1", b"Content-Length: 1e3", b"Content-Length: 99999999999999999999999",
    b"Content-Length: 70000", b"Content-Length: 1\r\nContent-Length: 2", b"Content-Length:  3 ", b"Content-Length: 0x10",
    b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: identity",
    b"Transfer-Encoding: chunked\r\nContent-Length: 3", b"Expect: 100-continue", b"Expect: tea", b"Host: a\r\nHost: b",
    b" folded: line", b"No-Colon", b"Bad Name: v", b"X: \x00nul", b"X: \x7f", b"Authorization: Bearer",
    b"Authorization: Bearer " + b"t" * 9000, b"Connection: close, keep-alive", b"X-Long: " + b"v" * 70000,
]


def mutate(rng, token):
    base = rng.choice(BASES).replace(b"TOKEN", token)
    kind = rng.randrange(9)
    data = bytearray(base)
    if kind == 0:  # byte flips
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # truncation
        data = data[: rng.randrange(1, len(data))]
    elif kind == 2:  # odd version
        line_end = data.index(b"\r\n")
        parts = bytes(data[:line_end]).split(b" ")
        parts[-1] = rng.choice(ODD)
        data = bytearray(b" ".join(parts)) + data[line_end:]
    elif kind == 3:  # bogus framing or header
        at = data.index(b"\r\n") + 2
        data[at:at] = rng.choice(BOGUS_HEADERS) + b"\r\n"
    elif kind == 4:  # oversize target
        data = bytearray(base.replace(b" HTTP/", b"?" + b"a" * rng.choice([100, 8000, 9000, 70000]) + b" HTTP/", 1))
    elif kind == 5:  # many header fields
        at = data.index(b"\r\n") + 2
        data[at:at] = b"".join(b"X-%d: v\r\n" % i for i in range(rng.choice([99, 101, 500])))
    elif kind == 6:  # line ends and odd whitespace
        data = bytearray(bytes(data).replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"]), rng.randint(1, 3)))
    elif kind == 7:  # random junk, or a pipelined pair
        data = bytearray(rng.randbytes(rng.randint(1, 300))) if rng.random() < 0.5 else data + bytearray(base)
    else:  # query and path oddities
        odd = rng.choice([b"%", b"%zz", b"%00", b"#frag", b"?a=1&a=2", b"?offset=4294967297", b"?limit=%2B5", b"/../..", b"//", b"?since=2026-02-30"])
        data = bytearray(base.replace(b" HTTP/", odd + b" HTTP/", 1))
    return bytes(data)


def exchange(port, payload, read_for, half_close=True):
    """Sends, half-closes (or keeps the connection open: the server's timeout then ends an
    incomplete request), reads until EOF or read_for seconds; (bytes, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(payload)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the node may answer and close early (413, 431)
        received, deadline = b"", time.monotonic() + read_for
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False


def check_answers(data):
    """None when every answer in `data` is well formed, else why not."""
    while data:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            return "an answer without a complete head: %r" % data[:200]
        lines = data[:head_end].split(b"\r\n")
        if not STATUS_LINE.match(lines[0]):
            return "bad status line %r" % lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" not in headers:
            return "no Content-Length in %r" % lines
        length = int(headers[b"content-length"])
        body = data[head_end + 4: head_end + 4 + length]
        status = int(lines[0].split(b" ")[1])
        head_only = len(data) - head_end - 4 < length  # a HEAD answer carries no body
        if status >= 400 and not head_only:
            try:
                error = json.loads(body)["error"]
                assert isinstance(error["code"], str) and isinstance(error["message"], str)
            except Exception:
                return "%d without the JSON error body: %r" % (status, body[:200])
        if status == 405 and b"allow" not in headers:
            return "405 without Allow"
        data = data[head_end + 4 + (0 if head_only else length):]
    return None


def healthy(port):
    data, _ = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)
    return data.startswith(b"HTTP/1.1 200 OK\r\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("token")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=300, help="stop after this long")
    parser.add_argument("--read-for", type=float, default=3.0, help="seconds to wait for each answer (above http.timeout_s)")
    parser.add_argument("--open-share", type=float, default=0.03, help="share of cases that keep the connection open")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    token = args.token.encode()
    failures, run, silent, start = [], 0, 0, time.monotonic()
    for case in range(args.cases):
        if time.monotonic() - start > args.seconds:
            break
        payload = mutate(rng, token)
        try:
            data, closed = exchange(args.port, payload, args.read_for, half_close=rng.random() >= args.open_share)
        except OSError as e:
            failures.append((case, payload, "connection failed: %s" % e))
            if not healthy(args.port):
                failures.append((case, payload, "the node stopped answering"))
                break
            continue
        run += 1
        why = check_answers(data)
        if why is None and not data:
            silent += 1
            if not closed:
                why = "no answer and the connection stayed open"
        if why:
            failures.append((case, payload, why))
    ok = healthy(args.port)
    print("raw HTTP fuzz: %d cases, %d failures, %d closed without an answer, healthy afterwards: %s"
          % (run, len(failures), silent, ok))
    for case, payload, why in failures[:20]:
        print("  case %d: %s\n    sent %r" % (case, why, payload[:160]))
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
