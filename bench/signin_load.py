#!/usr/bin/env python3
"""Sign-in memory benchmark for the auth-server binary (issue #8 item 2).

Starts the release binary on a loopback port with a fresh database in a temporary directory,
registers a public client, fetches one login page (session cookie + CSRF token), then runs two
bursts of `POST /authorize/login` with distinct unknown usernames, each from its own loopback
source address (127.0.x.y, so the per-source sign-in limit never stops a request before it
reaches the password check: the worst case for memory):

  1. 300 sign-ins, all at once (300 threads released together);
  2. 560 sign-ins at concurrency 16.

While they run it samples VmRSS and VmHWM from /proc/PID/status every 50 ms, and after each
burst it keeps sampling for 30 s. It prints, per burst: the answers by status, the baseline RSS,
the peak RSS, and the RSS 1, 5, 10 and 30 s after the burst.

Loopback only; bounded in count (860 sign-ins) and time (every request times out after 60 s,
the whole run is abandoned after 600 s); the server is stopped at the end.

    cargo build --release -p mcp-auth-server
    python3 bench/signin_load.py [--bin target/release/auth-server]
"""

import argparse
import concurrent.futures
import html
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

RESOURCE = "http://127.0.0.1:8080/mcp"
REDIRECT = "http://127.0.0.1:7777/callback"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
DEADLINE = time.monotonic() + 600


def source_address(i):
    """The i-th loopback source address: 127.0.1.1, 127.0.1.2, ... (hosts 1 to 254 of each /24)."""
    return "127.0.%d.%d" % (1 + i // 254, 1 + i % 254)


def request(port, method, path, body=None, headers=None, source=None, timeout=60):
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read().decode("utf-8", "replace")
    finally:
        conn.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Sampler:
    def __init__(self, pid):
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set() and time.monotonic() < DEADLINE:
            try:
                self.samples.append((time.monotonic(),) + rss_kib(self.pid))
            except (OSError, KeyError, ValueError):
                return
            time.sleep(0.05)

    def peak_between(self, start, end):
        return max((rss for t, rss, _ in self.samples if start <= t <= end), default=0)

    def rss_at(self, when):
        before = [rss for t, rss, _ in self.samples if t <= when]
        return before[-1] if before else 0


def start_server(binary, workdir):
    config = os.path.join(workdir, "auth.toml")
    with open(config, "w") as f:
        f.write(
            'bind = "127.0.0.1:0"\ndatabase = "%s"\ndefault_resource = "%s"\n'
            '[[resources]]\nresource = "%s"\nscopes = ["mcp:basic"]\ndefault_scopes = ["mcp:basic"]\n'
            % (os.path.join(workdir, "auth.db"), RESOURCE, RESOURCE)
        )
    proc = subprocess.Popen(
        [binary, "--config", config, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, MCP_AUTH_LOG="error"),
        text=True,
    )
    for line in proc.stdout:
        m = re.match(r"mcp-auth authorization server listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(m.group(1))
        if time.monotonic() > DEADLINE:
            break
    proc.kill()
    sys.exit("the server did not start")


def login_form(port):
    status, _, body = request(
        port,
        "POST",
        "/register",
        json.dumps(
            {
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code"],
            }
        ),
        {"Content-Type": "application/json"},
    )
    assert status == 201, (status, body)
    client_id = json.loads(body)["client_id"]
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
            "resource": RESOURCE,
            "state": "bench",
        }
    )
    status, headers, page = request(port, "GET", "/authorize?" + query)
    assert status == 200, (status, page)
    cookie = headers["set-cookie"].split(";", 1)[0]

    def hidden(name):
        m = re.search(r'name="%s" value="([^"]*)"' % name, page)
        return html.unescape(m.group(1))

    return cookie, hidden("csrf_token"), hidden("request")


def sign_in(port, form, i):
    cookie, csrf, req = form
    body = urllib.parse.urlencode(
        {"csrf_token": csrf, "request": req, "username": "nobody-%d" % i, "password": "guess-%d" % i}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    try:
        status, _, _ = request(port, "POST", "/authorize/login", body, headers, source_address(i))
        return status
    except OSError as e:
        return type(e).__name__


def burst(port, form, offset, total, concurrency):
    statuses = {}
    barrier = threading.Barrier(min(concurrency, total))

    def one(i):
        if concurrency >= total:
            barrier.wait(timeout=60)
        return sign_in(port, form, offset + i)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        for status in pool.map(one, range(total)):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default="target/release/auth-server")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to watch after a burst")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="signin-bench-")
    proc, port = start_server(args.bin, workdir)
    try:
        form = login_form(port)
        sampler = Sampler(proc.pid)
        sampler.thread.start()
        time.sleep(1.0)
        offset = 0
        for name, total, concurrency in [
            ("300 sign-ins at once", 300, 300),
            ("560 sign-ins at concurrency 16", 560, 16),
        ]:
            baseline = rss_kib(proc.pid)[0]
            start = time.monotonic()
            statuses = burst(port, form, offset, total, concurrency)
            end = time.monotonic()
            offset += total
            time.sleep(min(args.settle, max(0.0, DEADLINE - time.monotonic())))
            after = {s: sampler.rss_at(end + s) for s in (1, 5, 10, 30) if s <= args.settle}
            print("%s (%.1f s): answers %s" % (name, end - start, dict(sorted(statuses.items(), key=str))))
            print("  baseline RSS %.1f MiB, peak RSS %.1f MiB" % (baseline / 1024, sampler.peak_between(start, end + 1) / 1024))
            print("  RSS after the burst: " + ", ".join("%d s %.1f MiB" % (s, v / 1024) for s, v in after.items()))
        print("VmHWM (peak resident over the whole run): %.1f MiB" % (rss_kib(proc.pid)[1] / 1024))
        sampler.stop.set()
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
