#!/usr/bin/env python3
"""Loopback TCP proxy between the auth-server nodes and PostgreSQL, for bench/soak.sh's
database fault: `pg_proxy.py LISTEN_PORT TARGET_PORT [MAX_SECONDS]` (both on 127.0.0.1).

SIGUSR1 cuts the database off: every proxied connection is closed at once (both sides) and the
listening socket is closed, so new connections are refused. SIGUSR2 listens again. The proxy
stops by itself after MAX_SECONDS (default 7200) or on SIGTERM. Each event is printed with
its time. Loopback only; standard library only.
"""

import asyncio
import signal
import sys
import time

HOST = "127.0.0.1"


class Proxy:
    def __init__(self, listen_port, target_port):
        self.listen_port = listen_port
        self.target_port = target_port
        self.server = None
        self.writers = set()

    def log(self, what):
        print(f"{time.time():.3f} {what}", flush=True)

    async def pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            client_writer.close()
            return
        pair = (client_writer, server_writer)
        self.writers.update(pair)
        try:
            await asyncio.gather(self.pipe(client_reader, server_writer),
                                 self.pipe(server_reader, client_writer))
        finally:
            self.writers.difference_update(pair)

    async def listen(self):
        self.server = await asyncio.start_server(self.handle, HOST, self.listen_port,
                                                 reuse_address=True)
        self.log(f"listening on {HOST}:{self.listen_port} -> {HOST}:{self.target_port}")

    def cut(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        n = len(self.writers)
        for w in list(self.writers):
            transport = w.transport
            if transport is not None:
                transport.abort()
        self.writers.clear()
        self.log(f"cut: listener closed, {n // 2} connection(s) aborted")

    def restore(self):
        if self.server is None:
            asyncio.ensure_future(self.listen())


async def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 7200
    proxy = Proxy(listen_port, target_port)
    await proxy.listen()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut)
    loop.add_signal_handler(signal.SIGUSR2, proxy.restore)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except asyncio.TimeoutError:
        pass
    proxy.cut()


if __name__ == "__main__":
    asyncio.run(main())
