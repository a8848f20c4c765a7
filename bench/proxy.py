#!/usr/bin/env python3
"""A small TCP proxy for the sync benchmarks (bench/sync-bench.py).

    proxy.py --listen HOST:PORT --to HOST:PORT [--delay-ms MS] [--stats FILE] [--same-source]

Forwards every connection to --to and counts the bytes each way (the TCP
payload: HTTP and git, or TLS records, exactly what the application
sends). With --delay-ms, every chunk is held MS milliseconds before it is
forwarded, in each direction, in order: a delaying link, since this
kernel has no netem. On SIGUSR1 (and at exit) the totals are written to
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


async def pump(reader, writer, key, delay):
    """Copy reader to writer, counting, optionally holding each chunk."""
    queue = asyncio.Queue() if delay else None

    async def sender():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    task = asyncio.ensure_future(sender()) if delay else None
    try:
        while True:
            data = await reader.read(65536)
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


async def handle(creader, cwriter, target, delay, same_source=False):
    stats["conns"] += 1
    stats["open"] += 1
    try:
        src = (cwriter.get_extra_info("sockname")[0], 0) if same_source else None
        sreader, swriter = await asyncio.open_connection(*target, local_addr=src)
    except OSError:
        stats["open"] -= 1
        cwriter.close()
        return
    await asyncio.gather(pump(creader, swriter, "up", delay), pump(sreader, cwriter, "down", delay))
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
    a = ap.parse_args()
    target, delay = hostport(a.to), a.delay_ms / 1000.0
    host, port = hostport(a.listen)
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, delay, a.same_source), host, port)
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
