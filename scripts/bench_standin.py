#!/usr/bin/env python3
"""A plain-HTTP Infisical stand-in for scripts/bench that is not ours: Python's own
http.server (ThreadingHTTPServer, HTTP/1.0, one response per connection) serving one
pre-generated list answer, so the benchmark does not only measure our client against our own
Rust stand-in (examples/stand-ins.rs, crates/stand-ins).

The body is built once, before the server starts, with Python's json module (its default
separators, ", " and ": ", not serde_json's): N synthetic secrets per folder in the real
`GET /api/v3/secrets/raw` shape as recorded from a real server (the fields, in their order, of
fixtures/infisical/593bda8b/secrets-providers.json: the October 2024 shape, no `imports`
key there, an empty `imports` list here), values of 40-400 bytes, one in fifty a
multi-line 3 KB PEM-like block (escaped newlines in the JSON). 10,000 secrets make ~6 MB.
With --paths P there is one such body for each folder /bench/p1 ... /bench/pP (keys
BENCH_P<k>_SECRET_<i>, `secretPath` the folder): an answer is capped at 16 MiB (INF-024), so
100,000 secrets are ten folders of 10,000. A GET of /api/v3/secrets/raw answers the body of
its `secretPath` with Content-Length, whatever the token; anything else answers 404.

Usage: bench_standin.py --secrets N [--paths P] [--dump FILE]
Prints `infisical=http://127.0.0.1:PORT bytes=SIZE` (SIZE: all bodies together) once
listening (only ever binds 127.0.0.1); serves until signalled. --dump writes the body of
/bench/p1 to FILE and exits.
"""

import argparse
import json
import random
import string
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ALPHABET = string.ascii_letters + string.digits + "+/=_-.:,# "


def body(n, folder):
    rng = random.Random(f"20261203{folder}")
    tag = folder.strip("/").replace("/", "_").upper()
    secrets = []
    for i in range(n):
        if i % 50 == 49:
            lines = ["".join(rng.choices(ALPHABET[:64], k=64)) for _ in range(46)]
            value = "-----BEGIN SYNTHETIC CERTIFICATE-----\n" + "\n".join(lines) + \
                "\n-----END SYNTHETIC CERTIFICATE-----"
        else:
            value = "synthetic-" + "".join(rng.choices(ALPHABET, k=rng.randint(30, 390)))
        sid = f"5e1b9c20-0000-4000-9000-{i:012d}"
        secrets.append({
            "id": sid,
            "_id": sid,
            "workspace": "proj-bench",
            "environment": "prod",
            "version": 1 + i % 7,
            "type": "shared",
            "secretKey": f"{tag}_SECRET_{i:06d}",
            "secretValue": value,
            "secretComment": "",
            "secretReminderNote": None,
            "secretReminderRepeatDays": None,
            "skipMultilineEncoding": False,
            "metadata": None,
            "createdAt": "2026-11-20T08:15:00.000Z",
            "updatedAt": "2026-11-20T08:15:00.000Z",
            "secretPath": folder,
            "tags": [],
        })
    return json.dumps({"secrets": secrets, "imports": []}).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secrets", type=int, required=True)
    ap.add_argument("--paths", type=int, default=1)
    ap.add_argument("--dump")
    args = ap.parse_args()
    payloads = {f"/bench/p{k}": body(args.secrets, f"/bench/p{k}") for k in range(1, args.paths + 1)}
    if args.dump:
        with open(args.dump, "wb") as f:
            f.write(payloads["/bench/p1"])
        return

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            route, _, query = self.path.partition("?")
            payload = payloads.get(parse_qs(query).get("secretPath", [""])[0])
            if route != "/api/v3/secrets/raw" or payload is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_):
            pass

    class Server(ThreadingHTTPServer):
        # socketserver's default listen backlog is 5: ten connections opened at once overflow
        # it, and a dropped SYN is retried after a full second (the initial RTO), which would
        # time the kernel rather than the client. Real servers listen with a deeper queue
        # (nginx: 511).
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    size = sum(len(p) for p in payloads.values())
    print(f"infisical=http://127.0.0.1:{server.server_address[1]} bytes={size}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
