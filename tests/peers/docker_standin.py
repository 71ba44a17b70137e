#!/usr/bin/env python3
"""A stand-in Docker daemon for the peer tier (contracts/peers.md, PEER-014/015).

Listens on a Unix socket (the real docker CLI reaches it with DOCKER_HOST=unix://SOCKET),
answers the CLI's `HEAD|GET /_ping` with an `Api-Version` header, records the JSON body of
every `POST …/containers/create` (its query, with the container's `name`, and its `Env`) as
one JSON line in the log, and answers the create with 500 so that the CLI stops there: no
image, no engine, nothing started. Anything else is a 404 in the daemon's error shape.

Usage: docker_standin.py --socket PATH --log PATH
"""

import argparse
import json
import os
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

# The API version the stand-in claims; the CLI negotiates down to it.
API_VERSION = "1.41"
LOCK = threading.Lock()


def make_handler(log_path):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self):
            return "unix-socket"

        def log_message(self, fmt, *args):
            sys.stderr.write("docker-standin: " + (fmt % args) + "\n")

        def send(self, status, body, ctype="application/json"):
            self.send_response(status)
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Ostype", "linux")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def error(self, status, message):
            self.send(status, json.dumps({"message": message}).encode())

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            if urlsplit(self.path).path.endswith("/_ping"):
                self.send(200, b"OK", "text/plain; charset=utf-8")
            else:
                self.error(404, "docker stand-in: no such route " + self.path)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            url = urlsplit(self.path)
            if not url.path.endswith("/containers/create"):
                self.error(404, "docker stand-in: no such route " + self.path)
                return
            try:
                config = json.loads(body)
            except ValueError as e:
                self.error(400, "docker stand-in: body is not JSON: %s" % e)
                return
            record = {
                "name": parse_qs(url.query).get("name", [""])[0],
                "image": config.get("Image"),
                "env": config.get("Env"),
            }
            with LOCK, open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            self.error(500, "docker stand-in: create recorded, nothing is started")

    return Handler


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    open(args.log, "a").close()
    server = Server(args.socket, make_handler(args.log))
    server.serve_forever()


if __name__ == "__main__":
    main()
