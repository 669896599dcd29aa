#!/usr/bin/env python3
"""Request driver for bench/instructions.sh: one keep-alive connection, requests one after another.

    instructions_client.py KIND WARMUP N

Environment: BASE (http://127.0.0.1:PORT), RESOURCE, SECRET_ID, SECRET, JWT_ASSERTIONS (a file,
one client assertion a line), DPOP_PROOFS (a file, one DPoP proof for POST BASE/token a line),
PUBLIC_ID (a public client with redirect_uri REDIRECT).

For every KIND the driver first prepares what its requests spend (codes, a refresh token, access
tokens), then sends WARMUP requests of that kind, then N more. bench/instructions.sh runs the
server once with N = 0 and once with N > 0 and divides the difference of the two instruction
totals by N, so preparation and warm-up cancel out. Every answer is checked (status and, for
introspection, `active`): a failing request cannot pass for a cheap one. Loopback only.
"""

import base64
import hashlib
import http.client
import json
import os
import secrets
import sys
import urllib.parse

BASE = urllib.parse.urlsplit(os.environ["BASE"])
RESOURCE = os.environ.get("RESOURCE", "")
REDIRECT = os.environ.get("REDIRECT", "http://127.0.0.1:3000/callback")
CONN = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=600)


def call(method, path, body=None, headers=None, expect=200):
    headers = dict(headers or {})
    if body is not None:
        body = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    CONN.request(method, path, body=body, headers=headers)
    response = CONN.getresponse()
    data = response.read()
    if response.status != expect:
        sys.exit(f"{method} {path}: {response.status} {data[:300]!r}")
    return response, data


def basic():
    raw = f"{os.environ['SECRET_ID']}:{os.environ['SECRET']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def cc_token():
    body = {"grant_type": "client_credentials", "scope": "mcp:tools", "resource": RESOURCE}
    return json.loads(call("POST", "/token", body, basic())[1])


def new_code():
    """A code from /authorize under the development profile (signed in, consent approved)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": os.environ["PUBLIC_ID"],
        "redirect_uri": REDIRECT, "scope": "mcp:tools offline_access", "resource": RESOURCE,
        "state": "s", "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    })
    response, _ = call("GET", "/authorize?" + query, expect=302)
    location = urllib.parse.urlsplit(response.getheader("Location"))
    code = urllib.parse.parse_qs(location.query)["code"][0]
    return code, verifier


def redeem(code, verifier):
    body = {"grant_type": "authorization_code", "client_id": os.environ["PUBLIC_ID"],
            "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    return json.loads(call("POST", "/token", body)[1])


class CcSecret:
    def __init__(self, total):
        self.body = {"grant_type": "client_credentials", "scope": "mcp:tools", "resource": RESOURCE}

    def send(self):
        call("POST", "/token", self.body, basic())


class CcSecretDpop:
    """A secret client_credentials request with a new DPoP proof: the answer must be DPoP-bound."""

    def __init__(self, total):
        with open(os.environ["DPOP_PROOFS"]) as f:
            self.proofs = [line.strip() for line in f if line.strip()]
        if len(self.proofs) < total:
            sys.exit(f"{len(self.proofs)} proofs for {total} requests")
        self.body = {"grant_type": "client_credentials", "scope": "mcp:tools", "resource": RESOURCE}

    def send(self):
        headers = basic()
        headers["DPoP"] = self.proofs.pop()
        answer = json.loads(call("POST", "/token", self.body, headers)[1])
        if answer.get("token_type") != "DPoP":
            sys.exit(f"token_type {answer.get('token_type')!r}, not DPoP")


class CcJwt:
    def __init__(self, total):
        with open(os.environ["JWT_ASSERTIONS"]) as f:
            self.assertions = [line.strip() for line in f if line.strip()]
        if len(self.assertions) < total:
            sys.exit(f"{len(self.assertions)} assertions for {total} requests")

    def send(self):
        call("POST", "/token", {
            "grant_type": "client_credentials", "scope": "mcp:tools", "resource": RESOURCE,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertions.pop(),
        })


class Code:
    def __init__(self, total):
        self.codes = [new_code() for _ in range(total)]

    def send(self):
        redeem(*self.codes.pop())


class Refresh:
    def __init__(self, total):
        self.token = redeem(*new_code())["refresh_token"]

    def send(self):
        answer = json.loads(call("POST", "/token", {
            "grant_type": "refresh_token", "client_id": os.environ["PUBLIC_ID"],
            "refresh_token": self.token,
        })[1])
        self.token = answer["refresh_token"]


class Introspect:
    def __init__(self, total):
        self.token = cc_token()["access_token"]

    def send(self):
        answer = json.loads(call("POST", "/introspect", {"token": self.token}, basic())[1])
        if answer.get("active") is not True:
            sys.exit(f"introspection: {answer}")


class Revoke:
    def __init__(self, total):
        self.tokens = [cc_token()["access_token"] for _ in range(total)]

    def send(self):
        call("POST", "/revoke", {"token": self.tokens.pop()}, basic())


KINDS = {"cc-secret": CcSecret, "cc-secret-dpop": CcSecretDpop, "cc-jwt": CcJwt, "code": Code, "refresh": Refresh,
         "introspect": Introspect, "revoke": Revoke}


def main():
    kind, warmup, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # Preparation is the same in both runs: always prepare for the measured run's total.
    total = warmup + int(os.environ.get("PREPARE_FOR", n))
    work = KINDS[kind](total)
    for _ in range(warmup + n):
        work.send()


if __name__ == "__main__":
    main()
