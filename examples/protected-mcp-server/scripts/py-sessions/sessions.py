"""The Python MCP SDK (`mcp` 2.3.0) through mcp-auth's bearer layer, MCP 2025-11-25 sessions.

    python sessions.py --issuer URL --client-id ID --mcp-url URL --third-party URL \
        --user NAME --password PASSWORD

1. The user's access token: authorization code + PKCE S256 at our authorization server, with a
   scripted browser (cookie jar per host, redirects followed by hand, forms filled in).
2. One session with the SDK's `ClientSession` over `streamable_http_client` (the token in the
   `httpx2.AsyncClient` headers): the SDK opens the GET event stream through the layer (200);
   `list_events` gives -32042 with a URL elicitation; the scripted browser connects the calendar
   (our AS, then the third party, back to our callback); the SDK receives
   `notifications/elicitation/complete` with the same id, and the raw bytes of its GET stream
   carry it; the retried `list_events` returns the events; leaving the session, the SDK sends
   `DELETE`, answered 202.
3. The principal's open-session count goes back down: 8 sessions held open (the example
   server's cap per principal), a ninth `initialize` is 429 `too_many_sessions`; one session
   ended by the SDK (`DELETE` 202), and a new one opens.
4. 20 sequential sessions by the same principal, each with its GET stream open and ended by the
   SDK's `DELETE` (202): none is refused with 429.

Every HTTP exchange of the SDK goes through a recording transport (method, status, request
headers, body as read): the checks are made on what the SDK itself sent and received. The GET
and DELETE must carry `Content-Type: application/json`, as this SDK sends on every request: the
case the layer authorizes on the token alone (only a POST carries a JSON-RPC message).

Prints `PASS: ...` and exits 0, or prints `FAIL: ...` and exits 1 at the first broken
expectation. Talks to the loopback URLs it is given only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html.parser
import ipaddress
import json
import logging
import secrets
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import anyio
import anyio.abc
import httpx2
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client

EXPECTED_PROTOCOL = "2025-11-25"
REDIRECT = "http://127.0.0.1:7777/callback"
URL_ELICITATION_REQUIRED = -32042
# The example server's MAX_SESSIONS_PER_PRINCIPAL.
SESSION_CAP = 8
SEQUENTIAL_SESSIONS = 20


class Failure(Exception):
    """A broken expectation."""


def check(condition: Any, message: str) -> None:
    if not condition:
        raise Failure(message)


def assert_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    check(loopback, f"not a loopback URL: {url}")


async def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> None:
    """Poll `condition` every 20 ms for at most `seconds`; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise Failure(f"{what} (waited {seconds} s)")
        await anyio.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# The recording transport under the SDK's httpx2 client.


@dataclass
class Exchange:
    """One HTTP request of the SDK and its response."""

    method: str
    rpc_method: str | None
    request_headers: httpx2.Headers
    status: int
    response_headers: httpx2.Headers
    body: bytearray = field(default_factory=bytearray)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Tee(httpx2.AsyncByteStream):
    """A response stream that copies what the SDK reads into `sink`."""

    def __init__(self, inner: httpx2.AsyncByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    async def __aiter__(self):  # type: ignore[override]
        async for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Recorder(httpx2.AsyncBaseTransport):
    """Records every exchange passing through it (loopback only)."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        assert_loopback(str(request.url))
        rpc_method = None
        if request.method == "POST":
            try:
                rpc_method = json.loads(request.content).get("method")
            except (ValueError, AttributeError):
                rpc_method = None
        response = await self._inner.handle_async_request(request)
        exchange = Exchange(
            method=request.method,
            rpc_method=rpc_method,
            request_headers=request.headers,
            status=response.status_code,
            response_headers=response.headers,
        )
        self.exchanges.append(exchange)
        response.stream = _Tee(response.stream, exchange.body)  # type: ignore[arg-type]
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def of(self, method: str, rpc_method: str | None = None) -> list[Exchange]:
        return [
            e
            for e in self.exchanges
            if e.method == method and (rpc_method is None or e.rpc_method == rpc_method)
        ]


def mcp_http_client(token: str, recorder: Recorder) -> httpx2.AsyncClient:
    """The SDK's HTTP client: the bearer token on every request, the SDK's default timeouts."""
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        transport=recorder,
        timeout=httpx2.Timeout(30.0, read=300.0),
    )


def json_content_type(exchange: Exchange) -> bool:
    return (
        exchange.request_headers.get("content-type", "").split(";")[0].strip().lower()
        == "application/json"
    )


# ---------------------------------------------------------------------------------------------
# The scripted browser.


class _FormParser(html.parser.HTMLParser):
    """The first form's action and its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done and not self._in_form:
            self._in_form = True
            self.action = a.get("action")
        elif tag == "input" and self._in_form and a.get("type") == "hidden":
            self.fields.append((a.get("name", ""), a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def parse_form(page: str) -> tuple[str, list[tuple[str, str]]]:
    parser = _FormParser()
    parser.feed(page)
    check(parser.action is not None, "a form with an action on the page")
    return parser.action or "", parser.fields


@dataclass
class Stop:
    """Where the browser stopped: a redirect it was told to stop at, or a page."""

    redirect: str | None = None
    status: int | None = None
    page: str = ""


class Browser:
    """Cookies per host (as browsers keep them), redirects followed by hand."""

    def __init__(self) -> None:
        self.jar: dict[str, dict[str, str]] = {}

    async def request(self, url: str, form: list[tuple[str, str]] | None = None) -> httpx2.Response:
        assert_loopback(url)
        parts = urlsplit(url)
        cookies = self.jar.setdefault(parts.hostname or "", {})
        headers = {}
        if cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        content = None
        if form is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
            headers["origin"] = f"{parts.scheme}://{parts.netloc}"
            content = urlencode(form).encode()
        async with httpx2.AsyncClient(timeout=15.0, follow_redirects=False) as client:
            res = await client.request(
                "POST" if form is not None else "GET", url, headers=headers, content=content
            )
        for line in res.headers.get_list("set-cookie"):
            pair, *attrs = line.split(";")
            name, _, value = pair.partition("=")
            expired = any(a.strip().lower().replace(" ", "") == "max-age=0" for a in attrs)
            if expired or not value.strip():
                cookies.pop(name.strip(), None)
            else:
                cookies[name.strip()] = value.strip()
        return res

    async def drive(self, url: str, user: str, password: str, stop_at: Callable[[str], bool]) -> Stop:
        """Open `url` and go on as `user` would: follow redirects, sign in and approve when
        asked; stop at a redirect `stop_at` accepts, or at any other page."""
        current = url
        res = await self.request(current)
        for _ in range(24):
            if res.status_code in (302, 303):
                nxt = urljoin(current, res.headers["location"])
                if stop_at(nxt):
                    return Stop(redirect=nxt)
                res = await self.request(nxt)
                current = nxt
                continue
            page = res.text
            signing_in = 'name="password"' in page and 'name="username"' in page
            approving = 'name="decision" value="approve"' in page
            if res.status_code != 200 or not (signing_in or approving):
                return Stop(status=res.status_code, page=page)
            action, fields = parse_form(page)
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(current))
            if signing_in:
                print(f"  browser: sign in as {user} at {origin}", file=sys.stderr)
                fields += [("username", user), ("password", password)]
            else:
                print(f"  browser: approve at {origin}", file=sys.stderr)
                fields.append(("decision", "approve"))
            target = urljoin(current, action)
            res = await self.request(target, form=fields)
            current = target
        raise Failure(f"the browser went round in circles from {url}")


def query_param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


async def user_token(issuer: str, client_id: str, resource: str, user: str, password: str) -> str:
    """`user`'s access token for `resource`: authorization code + PKCE S256."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    authorize = f"{issuer}/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "mcp:tools",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": resource,
        }
    )
    stop = await Browser().drive(authorize, user, password, lambda u: u.startswith(REDIRECT))
    check(stop.redirect, f"the authorization did not come back to the client: {stop.status}")
    back = stop.redirect or ""
    check(query_param(back, "state") == state, "state echoed")
    check(query_param(back, "iss") == issuer, "RFC 9207 iss in the authorization response")
    code = query_param(back, "code")
    check(code, "a code")
    assert_loopback(issuer)
    async with httpx2.AsyncClient(timeout=15.0) as client:
        res = await client.post(
            f"{issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
                "resource": resource,
            },
        )
    body = res.json()
    check(res.status_code == 200 and body.get("access_token"), f"token endpoint: {res.status_code} {body}")
    return body["access_token"]


# ---------------------------------------------------------------------------------------------
# The MCP checks.


async def decline_form_elicitation(context: Any, params: Any) -> Any:
    """Declares the elicitation capability (form and url); a form request is declined."""
    from mcp_types import ElicitResult

    return ElicitResult(action="decline")


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def check_delete(recorder: Recorder, session_id: str) -> None:
    """The SDK ended `session_id` with one DELETE, answered 202."""
    deletes = [e for e in recorder.of("DELETE") if e.request_headers.get("mcp-session-id") == session_id]
    check(len(deletes) == 1, f"the SDK sent one DELETE for session {session_id}: {len(deletes)}")
    d = deletes[0]
    check(json_content_type(d), "the SDK's DELETE carries Content-Type: application/json")
    check(d.status == 202, f"DELETE of the session answered {d.status}, expected 202: {d.text()}")


def check_stream_opened(recorder: Recorder, session_id: str) -> Callable[[], bool]:
    def opened() -> bool:
        for e in recorder.of("GET"):
            if e.request_headers.get("mcp-session-id") != session_id:
                continue
            check(
                e.status == 200,
                f"the SDK's GET stream was answered {e.status}, expected 200: {e.text()[:300]}",
            )
            check(json_content_type(e), "the SDK's GET carries Content-Type: application/json")
            check(
                e.response_headers.get("content-type", "").startswith("text/event-stream"),
                "the GET stream is text/event-stream",
            )
            return True
        return False

    return opened


async def elicitation_session(
    mcp_url: str, token: str, issuer: str, third_party: str, user: str, password: str
) -> None:
    """Step 2: the GET stream carries `notifications/elicitation/complete`; DELETE 202."""
    recorder = Recorder()
    completions: list[tuple[float, Any]] = []

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/elicitation/complete":
            print(f"notification: {message.model_dump_json(by_alias=True, exclude_none=True)}")
            completions.append((time.monotonic(), message.params))
        elif isinstance(message, Exception):
            print(f"  (SDK transport error: {message!r})", file=sys.stderr)

    async with mcp_http_client(token, recorder) as http:
        async with streamable_http_client(mcp_url, http_client=http) as (read, write):
            async with ClientSession(
                read, write, elicitation_callback=decline_form_elicitation, message_handler=on_message
            ) as session:
                init = await session.initialize()
                print(f"negotiated: {init.protocol_version}; server: {init.server_info.name} {init.server_info.version}")
                check(init.protocol_version == EXPECTED_PROTOCOL, f"negotiated {init.protocol_version}")
                inits = recorder.of("POST", "initialize")
                check(len(inits) == 1 and inits[0].status == 200, "initialize answered 200")
                session_id = inits[0].response_headers.get("mcp-session-id")
                check(session_id, "a session id")
                await wait_until(check_stream_opened(recorder, session_id), 5, "the SDK opened its GET stream")
                print("GET stream: 200 text/event-stream (Content-Type: application/json on the request)")

                # list_events without a calendar connection: -32042 with the URL.
                try:
                    result = await session.call_tool("list_events", {})
                    raise Failure(f"expected -32042, got a result: {result}")
                except MCPError as e:
                    check(e.code == URL_ELICITATION_REQUIRED, f"expected -32042, got {e.code} {e.message}")
                    elicitations = (e.data or {}).get("elicitations", [])
                    print(f"error: {e.code} {e.message}")
                check(len(elicitations) == 1, f"one elicitation: {elicitations}")
                elicitation = elicitations[0]
                print(f"elicitation: {json.dumps(elicitation)}")
                eid = elicitation.get("elicitationId")
                check(elicitation.get("mode") == "url", f"mode {elicitation.get('mode')}")
                check(isinstance(eid, str) and eid, "an elicitationId")
                url = elicitation.get("url")
                check(url == f"{issuer}/connect/{eid}", f"url {url} is {{issuer}}/connect/{{id}}")

                # The user opens the URL: our AS, the third party, back to our callback.
                browser = Browser()
                callback = f"{issuer}/connect/callback"
                at_tp = await browser.drive(url, user, password, lambda u: u.startswith(third_party))
                check(at_tp.redirect, f"the connect page did not send the user to the third party: {at_tp.status}")
                check(query_param(at_tp.redirect or "", "redirect_uri") == callback, "our callback as redirect_uri")
                back = await browser.drive(at_tp.redirect or "", user, password, lambda u: u.startswith(callback))
                check(back.redirect, f"the third party did not redirect to our callback: {back.status}")
                page = await browser.drive(back.redirect or "", user, password, lambda u: True)
                done_at = time.monotonic()
                check(page.status == 200, f"callback page {page.status}: {page.page[:300]}")
                print(f"  browser: callback page {page.status}")

                await wait_until(lambda: completions, 5, "no notifications/elicitation/complete")
                await anyio.sleep(0.3)
                check(len(completions) == 1, f"exactly one completion: {completions}")
                check(completions[0][1].elicitation_id == eid, f"completion for {completions[0][1]}")
                print(f"completion after the callback page: {max(0, completions[0][0] - done_at) * 1000:.0f} ms")
                streams = [e for e in recorder.of("GET") if e.request_headers.get("mcp-session-id") == session_id]
                check(
                    any("notifications/elicitation/complete" in e.text() and eid in e.text() for e in streams),
                    "the completion came on the SDK's GET stream",
                )
                print("the completion came on the GET stream")

                result = await session.call_tool("list_events", {})
                check(not result.is_error, f"tool error: {result}")
                events = json.loads(text_of(result))
                print(f"list_events: {json.dumps(events)}")
                check(isinstance(events.get("owner"), str) and events["owner"], "a non-empty owner")
                check(isinstance(events.get("events"), list) and events["events"], "some events")
        # Leaving `streamable_http_client`: the SDK sends DELETE.
        check_delete(recorder, session_id)
        print(f"DELETE: 202 (session {session_id[:8]}…)")


async def open_session(stack: AsyncExitStack, mcp_url: str, token: str, recorder: Recorder) -> tuple[ClientSession, str]:
    """A session entered on `stack` (left, and so ended by the SDK, when the stack closes)."""
    http = await stack.enter_async_context(mcp_http_client(token, recorder))
    read, write = await stack.enter_async_context(streamable_http_client(mcp_url, http_client=http))
    session = await stack.enter_async_context(ClientSession(read, write))
    before = len(recorder.of("POST", "initialize"))
    await session.initialize()
    init = recorder.of("POST", "initialize")[before]
    session_id = init.response_headers.get("mcp-session-id")
    check(init.status == 200 and session_id, f"initialize answered {init.status}: {init.text()[:300]}")
    await wait_until(check_stream_opened(recorder, session_id), 5, "the SDK opened its GET stream")
    return session, session_id


class HeldSession:
    """A session kept open in its own task (the SDK's task groups must be left in the task
    and order they were entered in) until `end` is called."""

    def __init__(self, mcp_url: str, token: str, recorder: Recorder) -> None:
        self._args = (mcp_url, token, recorder)
        self._release = anyio.Event()
        self._opened = anyio.Event()
        self._closed = anyio.Event()
        self.session_id = ""

    async def _run(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                _, self.session_id = await open_session(stack, *self._args)
                self._opened.set()
                await self._release.wait()
        finally:
            self._opened.set()
            self._closed.set()

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(self._run)
        await self._opened.wait()
        check(self.session_id, "the session opened")

    async def end(self) -> None:
        self._release.set()
        await self._closed.wait()


async def session_count_goes_down(mcp_url: str, token: str) -> None:
    """Step 3: at the cap a ninth initialize is 429; after one DELETE a new session opens."""
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        held = [HeldSession(mcp_url, token, recorder) for _ in range(SESSION_CAP)]
        for h in held:
            await h.start(tg)
        print(f"{SESSION_CAP} sessions open")

        before = len(recorder.of("POST", "initialize"))
        opened = False
        try:
            async with AsyncExitStack() as stack:
                await open_session(stack, mcp_url, token, recorder)
                opened = True
        except* MCPError:
            pass
        check(not opened, f"a session past the cap of {SESSION_CAP} was opened")
        refused = recorder.of("POST", "initialize")[before]
        check(refused.status == 429, f"initialize past the cap answered {refused.status}, expected 429")
        check("too_many_sessions" in refused.text(), f"429 body: {refused.text()}")
        print(f"initialize number {SESSION_CAP + 1}: 429 too_many_sessions")

        first = held.pop(0)
        await first.end()
        check_delete(recorder, first.session_id)
        print("one session ended by the SDK: DELETE 202")

        again = HeldSession(mcp_url, token, recorder)
        await again.start(tg)
        held.append(again)
        print(f"a new session opened: the DELETE took the count from {SESSION_CAP} to {SESSION_CAP - 1}")
        for h in held:
            await h.end()
    for h in held:
        check_delete(recorder, h.session_id)
    print(f"the other {len(held)} sessions ended by the SDK: DELETE 202 each")


async def sequential_sessions(mcp_url: str, token: str) -> None:
    """Step 4: 20 sessions one after the other, each ended by the SDK; never 429."""
    recorder = Recorder()
    for n in range(1, SEQUENTIAL_SESSIONS + 1):
        async with AsyncExitStack() as stack:
            session, sid = await open_session(stack, mcp_url, token, recorder)
            result = await session.call_tool("echo", {"text": f"session {n}"})
            check(not result.is_error and text_of(result).endswith(f": session {n}"), f"echo: {result}")
        check_delete(recorder, sid)
    refused = [e for e in recorder.exchanges if e.status == 429]
    check(not refused, f"429 in {len(refused)} exchanges: {refused[0].text() if refused else ''}")
    statuses = sorted({e.status for e in recorder.exchanges})
    print(f"{SEQUENTIAL_SESSIONS} sequential sessions: each opened its GET stream, called echo and ended with DELETE 202; statuses seen {statuses}")


async def main(args: argparse.Namespace) -> None:
    for url in (args.issuer, args.mcp_url, args.third_party):
        assert_loopback(url)
    print(f"{args.user}'s MCP access token: authorization code + PKCE at our AS")
    token = await user_token(args.issuer, args.client_id, args.mcp_url, args.user, args.password)
    print("Python SDK (mcp 2.3.0) client:")
    await elicitation_session(args.mcp_url, token, args.issuer, args.third_party, args.user, args.password)
    await session_count_goes_down(args.mcp_url, token)
    await sequential_sessions(args.mcp_url, token)
    print("PASS: Python SDK sessions through the bearer layer (GET stream, DELETE 202, session count)")


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, a `Failure` first."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(error)
    failures = [e for e in leaves if isinstance(e, Failure)]
    return (failures or leaves or [error])[0]


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--mcp-url", required=True)
    parser.add_argument("--third-party", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    # The SDK logs a warning for every DELETE answered 202 (it counts only 200 and 204 as
    # success); this script checks the status itself.
    logging.basicConfig(level=logging.ERROR)

    async def bounded() -> None:
        with anyio.fail_after(120):
            await main(args)

    try:
        try:
            anyio.run(bounded)
        except BaseExceptionGroup as group:
            raise first_leaf(group) from group
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except TimeoutError:
        print("FAIL: took more than 120 s", file=sys.stderr)
        return 1
    except BaseException as e:  # noqa: BLE001 - any other error is a failure too
        import traceback

        traceback.print_exception(e)
        print(f"FAIL: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
