#!/usr/bin/env python3
"""Lists secrets with the official Infisical Python SDK (`infisicalsdk` on PyPI) and prints
what it parsed as one JSON document on stdout:

  {"auth": "token-auth|universal-auth",
   "secrets": [{"key": K, "value": V, "path": P}, ...],
   "imports": [{"path": P, "keys": [K, ...]}, ...]}

Credentials come from the environment, never from argv:
  token-auth:      INFISICAL_TOKEN
  universal-auth:  INFISICAL_UNIVERSAL_AUTH_CLIENT_ID, INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET

Usage: sdk_list.py --host URL --auth token-auth|universal-auth --project ID --env SLUG
                   --path P [--no-imports]
Exit 0 on success; any SDK exception is printed (type and message) and exits 1.
"""

import argparse
import json
import os
import sys

from infisical_sdk import InfisicalSDKClient


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--auth", choices=["token-auth", "universal-auth"], required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--env", required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--no-imports", action="store_true")
    a = p.parse_args()

    # cache_ttl=None: no background cache thread, every call reaches the stand-in
    client = InfisicalSDKClient(host=a.host, cache_ttl=None)
    try:
        if a.auth == "token-auth":
            client.auth.token_auth.login(token=os.environ["INFISICAL_TOKEN"])
        else:
            client.auth.universal_auth.login(
                client_id=os.environ["INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"],
                client_secret=os.environ["INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"],
            )
        answer = client.secrets.list_secrets(
            project_id=a.project,
            environment_slug=a.env,
            secret_path=a.path,
            include_imports=not a.no_imports,
        )
    except Exception as e:  # report the SDK's own failure, then fail
        print(f"sdk_list: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()

    out = {
        "auth": a.auth,
        "secrets": [
            {"key": s.secretKey, "value": s.secretValue, "path": s.secretPath}
            for s in answer.secrets
        ],
        "imports": [
            {"path": imp.secretPath,
             "keys": [s["secretKey"] if isinstance(s, dict) else s.secretKey for s in imp.secrets]}
            for imp in answer.imports
        ],
    }
    json.dump(out, sys.stdout, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
