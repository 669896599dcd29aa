#!/usr/bin/env python3
"""Helpers of bench/soak.sh (loopback only, standard library only, every loop bounded).

    soak.py mint BASE N OUT              N codes from /authorize (development profile): "code verifier" lines
    soak.py families BASE N OUT          N refresh tokens, one per new family (a code minted and redeemed)
    soak.py cc-token BASE                an access token of the confidential client, printed
    soak.py mcp-sessions MCP_URL N OUT   N MCP sessions opened with $TOKEN: "session-id version" lines
    soak.py rss OUT LABEL=PID...         VmRSS/VmHWM of each PID every second: "epoch label rss_kb hwm_kb"
    soak.py startup BIN URL RUNS         time from exec to the first 200 of URL, RUNS times (ms)
    soak.py idle-sessions MCP_URL PID N TOKENS PER   RSS per idle MCP session
    soak.py fault ...                    the database cut of the PostgreSQL soak (see fault())
    soak.py report ...                   per-minute figures and checks (see report())
    soak.py final ...                    the summary table, also into bench/README.md (see final())

Environment: SECRET_ID, SECRET (the confidential client), PUBLIC_ID, REDIRECT, RESOURCE (the
MCP server's URL), TOKEN (an access token for the MCP server).
"""

import base64
import hashlib
import http.client
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

TIMEOUT = 10


def conn_for(base):
    u = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, base):
        self.base = base
        self.conn = conn_for(base)

    def call(self, method, path, body=None, headers=None, form=True):
        headers = dict(headers or {})
        if body is not None and form:
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
            return r.status, r.headers, data
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = conn_for(self.base)
            raise


def basic():
    raw = f"{os.environ['SECRET_ID']}:{os.environ['SECRET']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def new_code(c):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": os.environ["PUBLIC_ID"],
        "redirect_uri": os.environ["REDIRECT"], "scope": "mcp:tools offline_access",
        "resource": os.environ["RESOURCE"], "state": "s", "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    status, headers, data = c.call("GET", "/authorize?" + query)
    if status == 503:
        raise Unavailable(f"/authorize: 503 {data[:200]!r}")
    if status != 302:
        raise RuntimeError(f"/authorize: {status} {data[:200]!r}")
    location = urllib.parse.urlsplit(headers["Location"])
    return urllib.parse.parse_qs(location.query)["code"][0], verifier


def redeem(c, code, verifier):
    return c.call("POST", "/token", {
        "grant_type": "authorization_code", "client_id": os.environ["PUBLIC_ID"], "code": code,
        "redirect_uri": os.environ["REDIRECT"], "code_verifier": verifier})


def rotate(c, token):
    return c.call("POST", "/token", {
        "grant_type": "refresh_token", "client_id": os.environ["PUBLIC_ID"], "refresh_token": token})


def parallel(base, n, work, threads=6):
    """Run work(client, i) for i in range(n) on `threads` connections; results in order."""
    out = [None] * n
    q = queue.Queue()
    for i in range(n):
        q.put(i)
    errors = []

    def run():
        c = Client(base)
        while not errors:
            try:
                i = q.get_nowait()
            except queue.Empty:
                return
            try:
                out[i] = work(c, i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit(f"{len(errors)} failure(s), first: {errors[0]}")
    return out


def retried(fn, *args):
    """fn(*args), again after a 503 (the store briefly over its deadline under load): 10 tries,
    1 s apart; each retry is reported on stderr."""
    for attempt in range(10):
        try:
            return fn(*args)
        except Unavailable as e:
            print(f"retrying after {e}"[:160], file=sys.stderr)
            if attempt == 9:
                raise
            time.sleep(1)


class Unavailable(RuntimeError):
    pass


def cmd_mint(base, n, out):
    codes = parallel(base, int(n), lambda c, i: retried(new_code, c))
    with open(out, "w") as f:
        for code, verifier in codes:
            f.write(f"{code} {verifier}\n")


def new_family(c):
    """A refresh token of a new family (a code minted and redeemed)."""
    status, _, data = redeem(c, *retried(new_code, c))
    if status == 503:
        raise Unavailable(f"redemption: 503 {data[:200]!r}")
    if status != 200:
        raise RuntimeError(f"redemption: {status} {data[:200]!r}")
    return json.loads(data)["refresh_token"]


def cmd_families(base, n, out):
    tokens = parallel(base, int(n), lambda c, i: retried(new_family, c))
    with open(out, "w") as f:
        f.write("".join(t + "\n" for t in tokens))


def cc_token(c):
    status, _, data = c.call("POST", "/token", {
        "grant_type": "client_credentials", "scope": "mcp:tools",
        "resource": os.environ["RESOURCE"]}, basic())
    if status != 200:
        raise RuntimeError(f"client_credentials: {status} {data[:200]!r}")
    return json.loads(data)["access_token"]


def cmd_cc_token(base):
    print(cc_token(Client(base)))


def mcp_headers(token, session=None, version=None):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "Authorization": "Bearer " + token}
    if session:
        h["Mcp-Session-Id"] = session
    if version:
        h["MCP-Protocol-Version"] = version
    return h


def open_session(c, path, token):
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "soak", "version": "1.0"}}}
    status, headers, data = c.call("POST", path, json.dumps(init), mcp_headers(token), form=False)
    session = headers.get("Mcp-Session-Id")
    if status != 200 or not session:
        raise RuntimeError(f"initialize: {status} {data[:300]!r}")
    version = "2025-06-18"
    for line in data.decode().splitlines():
        if line.startswith("data:") and "protocolVersion" in line:
            version = json.loads(line[5:])["result"]["protocolVersion"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    status, _, data = c.call("POST", path, json.dumps(note), mcp_headers(token, session, version), form=False)
    if status != 202:
        raise RuntimeError(f"notifications/initialized: {status} {data[:300]!r}")
    return session, version


def cmd_mcp_sessions(url, n, out):
    u = urllib.parse.urlsplit(url)
    base = f"{u.scheme}://{u.netloc}"
    token = os.environ["TOKEN"]
    sessions = parallel(base, int(n), lambda c, i: open_session(c, u.path, token), threads=2)
    with open(out, "w") as f:
        for s, v in sessions:
            f.write(f"{s} {v}\n")


def status_of(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                values[k] = int(v.split()[0])
    return values


def cmd_rss(out, *pairs):
    targets = [p.split("=", 1) for p in pairs]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.time() + 4 * 3600
    with open(out, "a", buffering=1) as f:
        nxt = time.time()
        while not stop and time.time() < deadline:
            now = time.time()
            for label, pid in targets:
                try:
                    v = status_of(pid)
                    f.write(f"{now:.3f} {label} {v['VmRSS']} {v['VmHWM']}\n")
                except (OSError, KeyError):
                    pass
            nxt += 1.0
            time.sleep(max(0.0, nxt - time.time()))


def cmd_startup(binary, url, runs, *args):
    """exec to the first 200 of GET url; a warm-up run first (warm disk), then RUNS runs."""
    u = urllib.parse.urlsplit(url)
    times = []
    for i in range(int(runs) + 1):
        t0 = time.perf_counter()
        p = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if p.poll() is not None:
                    sys.exit(f"the server exited with {p.returncode}")
                if time.perf_counter() - t0 > 30:
                    sys.exit("no 200 within 30 s")
                try:
                    c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
                    c.request("GET", u.path)
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.001)
                finally:
                    c.close()
            elapsed = (time.perf_counter() - t0) * 1000
        finally:
            p.terminate()
            p.wait(timeout=10)
        if i > 0:
            times.append(elapsed)
    print(f"best={min(times):.1f} runs={','.join(f'{t:.1f}' for t in times)}")


def cmd_idle_sessions(url, pid, n, tokens_file, per):
    """Open N sessions (at most PER per token), leave them idle; RSS per session."""
    u = urllib.parse.urlsplit(url)
    base = f"{u.scheme}://{u.netloc}"
    tokens = [t.strip() for t in open(tokens_file) if t.strip()]
    n, per = int(n), int(per)
    if len(tokens) * per < n + 20:
        sys.exit(f"{len(tokens)} token(s) x {per} cannot hold {n} sessions")
    # Warm-up: the first sessions allocate what every later one reuses (thread caches, maps).
    parallel(base, 20, lambda c, i: open_session(c, u.path, tokens[i // per]), threads=4)
    time.sleep(2)
    before = status_of(pid)["VmRSS"]
    t0 = time.time()
    parallel(base, n, lambda c, i: open_session(c, u.path, tokens[(i + 20) // per]), threads=8)
    took = time.time() - t0
    time.sleep(3)  # every connection closed (threads joined), nothing in flight
    after = status_of(pid)["VmRSS"]
    print(f"sessions={n} seconds={took:.1f} rss_before_kb={before} rss_after_kb={after} "
          f"per_session_kb={(after - before) / n:.1f}")


if __name__ == "__main__":
    cmd = sys.argv[1].replace("-", "_")
    if cmd in ("fault", "report", "final"):
        import soak_checks
        getattr(soak_checks, cmd)(*sys.argv[2:])
    else:
        globals()["cmd_" + cmd](*sys.argv[2:])
