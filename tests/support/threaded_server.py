"""The whole server in a thread of its own, for a module of tests that share one.

pytest-trio runs each test in its own ``trio.run``, so an async fixture cannot outlive a test;
a module that drives one server through many small tests (the conformance suite) runs the
server's own ``trio.run`` in a thread instead and talks to it over loopback sockets only, as
any client would.
"""

from __future__ import annotations

import faulthandler
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from synctv.app import Controller
from synctv.config import Config
from tests.support.server import running_server


@dataclass(frozen=True)
class ThreadedServer:
    controller: Controller
    base: str  # http://127.0.0.1:PORT


@contextmanager
def server_in_thread(config: Config) -> Iterator[ThreadedServer]:
    """Start the tree in a thread, hand back its address; abort it on exit."""
    started: queue.Queue[tuple[Controller, trio.lowlevel.TrioToken, trio.Event] | BaseException]
    started = queue.Queue()

    async def main() -> None:
        async with running_server(config) as controller:
            stop = trio.Event()
            started.put((controller, trio.lowlevel.current_trio_token(), stop))
            await stop.wait()  # leaving the block aborts the tree

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # the test thread reports it
            started.put(exc)

    thread = threading.Thread(target=run, name="synctv-server", daemon=True)
    thread.start()
    got = started.get(timeout=120)
    if isinstance(got, BaseException):
        raise RuntimeError("the server did not start") from got
    controller, token, stop = got
    try:
        yield ThreadedServer(controller, controller.addresses.http[0])
    finally:
        trio.from_thread.run_sync(stop.set, trio_token=token)
        thread.join(timeout=30)
        if thread.is_alive():  # say where it is stuck
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        assert not thread.is_alive(), "the server thread did not stop"
