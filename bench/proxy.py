#!/usr/bin/env python3
"""A small TCP proxy for the sync benchmarks (bench/sync-bench.py).

    proxy.py --listen HOST:PORT --to HOST:PORT [--delay-ms MS] [--queue-kib N] [--stats FILE] [--same-source]

Forwards every connection to --to and counts the bytes each way (the TCP
payload: HTTP and git, or TLS records, exactly what the application
sends). With --delay-ms, every chunk is held MS milliseconds before it is
forwarded, in each direction, in order: a delaying link, since this
kernel has no netem. With --queue-kib, it holds at most that much ahead
in each direction (in chunks of half of it, behind a receive buffer of
one chunk), as a link's queue does, so that the sender feels the rate
of what is behind the proxy; without, it takes all it is given at once.
On SIGUSR1 (and at exit) the totals are written to
--stats as JSON, with a counter that grows at each write, so the caller
can wait for a fresh one:

    {"n": 3, "conns": 12, "open": 0, "up": 1234, "down": 5678}

"up" is client to server (the station to the hall), "down" the answer.
SIGTERM stops it. With --same-source (listening on 0.0.0.0), each
connection to the server is made from the loopback address the client
connected to (127.x.y.z): clients that each use an address of their own
reach the server as distinct peers, as stations on their own links do
(bench/county-sim.py).
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import time

stats = {"n": 0, "conns": 0, "open": 0, "up": 0, "down": 0}


def write_stats(path):
    if not path:
        return
    stats["n"] += 1
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, path)


CHUNK = 65536


async def pump(reader, writer, key, delay, queued=0):
    """Copy reader to writer, counting, optionally holding each chunk;
    with queued, at most that many chunks held ahead."""
    queue = asyncio.Queue(queued) if delay else None

    async def sender():
        dead = False
        while True:
            due, data = await queue.get()
            if data is None:
                break
            if dead:
                continue        # the far side is gone: drop, so the reader never waits on a full queue
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                dead = True

    task = asyncio.ensure_future(sender()) if delay else None
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            stats[key] += len(data)
            if delay:
                await queue.put((time.monotonic() + delay, data))
            else:
                writer.write(data)
                await writer.drain()
        if delay:
            await queue.put((0, None))
            await task
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        if task:
            task.cancel()


async def handle(creader, cwriter, target, delay, same_source=False, queued=0):
    stats["conns"] += 1
    stats["open"] += 1
    try:
        src = (cwriter.get_extra_info("sockname")[0], 0) if same_source else None
        sreader, swriter = await asyncio.open_connection(*target, local_addr=src)
    except OSError:
        stats["open"] -= 1
        cwriter.close()
        return
    await asyncio.gather(pump(creader, swriter, "up", delay, queued), pump(sreader, cwriter, "down", delay, queued))
    for w in (swriter, cwriter):
        try:
            w.close()
        except OSError:
            pass
    stats["open"] -= 1


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--stats")
    ap.add_argument("--same-source", action="store_true")
    ap.add_argument("--queue-kib", type=int, default=0,
                    help="with --delay-ms, hold at most this much ahead in each direction, as a link's queue does")
    a = ap.parse_args()
    global CHUNK
    queued = 0
    if a.queue_kib:
        CHUNK = min(CHUNK, max(1024, a.queue_kib * 1024 // 2))
        queued = max(1, a.queue_kib * 1024 // CHUNK)
    target, delay = hostport(a.to), a.delay_ms / 1000.0
    host, port = hostport(a.listen)
    serve = lambda r, w: handle(r, w, target, delay, a.same_source, queued)
    if queued:
        # the kernel's own buffer in front of it no larger than a chunk
        # either: set before listening, so that the window agreed at each
        # connection's start follows it
        ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
        ls.bind((host, port))
        ls.listen(128)
        server = await asyncio.start_server(serve, sock=ls, limit=CHUNK)
    else:
        server = await asyncio.start_server(serve, host, port, limit=CHUNK)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, write_stats, a.stats)
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_signal_handler(signal.SIGINT, lambda: stop.done() or stop.set_result(None))
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    await stop
    server.close()
    write_stats(a.stats)


if __name__ == "__main__":
    asyncio.run(main())
