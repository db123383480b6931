"""Threads shared by the layers: a source run ahead of its consumer.

A leaf: it imports nothing of synctools, so the network layer (a collection read's
requests run ahead of its parsing) and the stages (a download's pages run ahead of
their decryption) use the same one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


@contextmanager
def prefetch(source: Iterator[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """``source`` run in a thread, up to ``depth`` items ahead; its errors come out of
    the iterator this yields, in order, after every item produced before them."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(("error", exc))

    def consume() -> Iterator[T]:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value

    thread = threading.Thread(target=produce, name="synctools-prefetch", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
        close = getattr(source, "close", None)
        if close is not None:
            close()  # a generator stopped early runs its finally (progress bars) here
