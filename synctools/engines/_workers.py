"""A small pool of worker processes for decrypting big collections on every core.

The pure-Python decryption holds the GIL (HMAC, base64 and JSON per record), so threads
cannot spread it; processes can. Where the compiled loop is built (``protocol/_native.c``,
which releases the GIL, as does history's compiled reader), one process's threads
already use every core, and processes would only add pickling and their start: then
none are chosen unless asked for. The pool starts on first use (``forkserver`` where available: a
notebook kernel runs threads, and forking it is unsafe), is reused by later calls and
is shut down at exit. Key bundles travel to the workers through the pool's pipe, never
through a file or a log. If the pool breaks, callers fall back to working in-process.

Like all of ``multiprocessing``, a new worker imports the main *script* again, so
processes are chosen automatically only in interactive sessions (Jupyter, IPython, the
REPL), whose ``__main__`` is no file. A script asks for them with ``workers=N`` and
keeps its top-level code under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from synctools.protocol import _bulk

__all__ = ["BrokenProcessPool", "allowed_workers", "default_workers", "pool", "shutdown"]

PARALLEL_FROM = 40_000  # below this many records, starting processes costs more than it saves

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = 0


def default_workers(n_records: int) -> int:
    """How many processes to use for ``n_records`` (1 = stay in this process)."""
    if n_records < PARALLEL_FROM:
        return 1
    return allowed_workers()


def allowed_workers() -> int:
    """Processes to use for a big collection when nobody said: none (1) where the
    compiled loop is built or a script would run again in each worker, else up to 4."""
    if _bulk._native is not None or not interactive():
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def interactive() -> bool:
    """True when ``__main__`` is no script file, so workers cannot re-run one."""
    main = sys.modules.get("__main__")
    return main is None or not hasattr(main, "__file__")


def pool(workers: int) -> ProcessPoolExecutor:
    """The shared pool, (re)started with ``workers`` processes if needed."""
    global _pool, _size
    with _lock:
        if _pool is None or _size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            methods = multiprocessing.get_all_start_methods()
            ctx: multiprocessing.context.BaseContext
            if "forkserver" in methods:
                ctx = multiprocessing.get_context("forkserver")
                # Import the heavy modules once in the server; each worker forks from it.
                ctx.set_forkserver_preload(["synctools.engines.history"])
            else:
                ctx = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
            _size = workers
        return _pool


def shutdown() -> None:
    """Stop the worker processes (they start again when next needed)."""
    global _pool, _size
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _size = None, 0


atexit.register(shutdown)
