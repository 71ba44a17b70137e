#!/usr/bin/env python3
"""A loopback Infisical stand-in for the peer tier: serves the repository's `fixtures/`
payloads the way the real API answers (see docs/infisical-api.md).

Routes (everything else answers 404 with the real error envelope):
  POST /api/v1/auth/universal-auth/login  {"clientId","clientSecret"} -> login fixture, or 401
  GET  /api/v3/secrets/raw                 Bearer token (Token Auth token or the access token
                                           the login hands out) -> the payload mapped to
                                           (environment, secretPath), or 200 with no secrets
                                           for an unknown folder, as Infisical does.

The routes file (fixtures/peers/infisical-routes.json) names the credentials and maps
environment -> secretPath -> fixture path relative to fixtures/. Every request is appended,
as one JSON line without any header value, to --log.

Usage: infisical_standin.py --routes FILE --fixtures DIR --port-file F [--log F] [--port N]
Only ever binds 127.0.0.1.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOOLEAN_PARAMS = ("viewSecretValue", "expandSecretReferences", "recursive", "include_imports")


def load(fixtures, rel):
    with open(os.path.join(fixtures, rel), encoding="utf-8") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    server_version = "infisical-standin/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def record(self, status, extra=None):
        cfg = self.server.cfg
        entry = {
            "method": self.command,
            "path": urlsplit(self.path).path,
            "query": parse_qs(urlsplit(self.path).query),
            "status": status,
            # never the token itself: only whether it matched a known credential
            "auth": self.auth_kind(),
        }
        if extra:
            entry.update(extra)
        with self.server.lock:
            if cfg["log"]:
                with open(cfg["log"], "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    def auth_kind(self):
        header = self.headers.get("Authorization")
        if header is None:
            return "none"
        routes = self.server.cfg["routes"]
        if header == "Bearer " + routes["tokenAuthToken"]:
            return "token-auth"
        if header == "Bearer " + json.loads(self.server.cfg["login_body"])["accessToken"]:
            return "universal-auth"
        return "wrong"

    def send(self, status, body):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, error, message):
        self.send(status, json.dumps({"reqId": "req-standin", "statusCode": status,
                                      "message": message, "error": error}))

    def do_POST(self):
        cfg = self.server.cfg
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if urlsplit(self.path).path != "/api/v1/auth/universal-auth/login":
            self.record(404)
            return self.error(404, "NotFound", "Route not found")
        try:
            body = json.loads(raw)
        except ValueError:
            self.record(400)
            return self.error(400, "BadRequest", "Body is not JSON")
        routes = cfg["routes"]
        if (body.get("clientId") != routes["clientId"]
                or body.get("clientSecret") != routes["clientSecret"]):
            self.record(401)
            return self.send(401, load(cfg["fixtures"], routes["invalidCredentials"]))
        self.record(200)
        return self.send(200, cfg["login_body"])

    def do_GET(self):
        cfg = self.server.cfg
        routes = cfg["routes"]
        url = urlsplit(self.path)
        if url.path != "/api/v3/secrets/raw":
            self.record(404)
            return self.error(404, "NotFound", "Route not found")
        kind = self.auth_kind()
        if kind == "none":
            self.record(401)
            return self.send(401, load(cfg["fixtures"], routes["tokenMissing"]))
        if kind == "wrong":
            self.record(401)
            return self.error(401, "UnauthorizedError", "No identity access token found")
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        for name in BOOLEAN_PARAMS:
            if name in query and query[name] not in ("true", "false"):
                # The real route validates its query with zod: 422, `message` an array of issues
                # (backend/src/server/plugins/error-handler.ts, ZodError branch).
                self.record(422)
                return self.send(422, json.dumps({
                    "reqId": "req-standin", "statusCode": 422, "error": "ValidationFailure",
                    "message": [{"code": "invalid_enum_value", "options": ["true", "false"],
                                 "path": [name], "received": query[name],
                                 "message": f"Invalid enum value. Expected 'true' | 'false', received '{query[name]}'"}]}))
        if not (query.get("workspaceId") or query.get("workspaceSlug")) or not query.get("environment"):
            self.record(400)
            return self.send(400, load(cfg["fixtures"], routes["missingProject"]))
        folder = query.get("secretPath", "/")
        env_routes = routes["secrets"].get(query["environment"], {})
        rel = env_routes.get(folder)
        if rel is None and routes.get("unknownFolder") != "empty":
            # A current server: 404 SecretPathNotFound naming the path and environment
            # (services/secret-v2-bridge/secret-v2-bridge-service.ts, getSecrets).
            self.record(404)
            return self.error(404, "SecretPathNotFound",
                              f"Folder with path '{folder}' in environment '{query['environment']}' was not found. "
                              "Please ensure the environment slug and secret path is correct.")
        rel = rel or routes["emptyFolder"]
        self.record(200, {"fixture": rel})
        return self.send(200, load(cfg["fixtures"], rel))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--routes", required=True)
    p.add_argument("--fixtures", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    with open(a.routes, encoding="utf-8") as f:
        routes = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.cfg = {
        "routes": routes,
        "fixtures": a.fixtures,
        "log": a.log,
        "login_body": load(a.fixtures, routes["login"]),
    }
    tmp = a.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, a.port_file)
    print(f"infisical-standin: listening on 127.0.0.1:{server.server_address[1]}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
