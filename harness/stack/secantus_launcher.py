"""``secantusd-py`` with two start-up patches to SecantusDB 0.7.0b3; same command line.

    python harness/stack/secantus_launcher.py --host 127.0.0.1 --port P --storage-path DIR ...

(``python -m harness.stack.secantus_launcher`` works too, but imports ``harness.stack`` first.)
This module imports only ``secantus`` and the standard library; it patches, then runs
``secantus.cli.main``. Each patch names the SecantusDB code it wraps.

1. The stall: a cycle through WiredTiger hazard pointers. Each connection thread has its own WT
   session with cached cursors (``Storage._cursor``, storage.py:4415), and a cursor stays
   positioned, pinning its page with a hazard pointer, after the ``with self._lock`` block that
   used it (``_docs_by_recordids`` storage.py:8186-8190, ``get_profile`` :3466-3470, ...). The
   thread then waits for ``Storage._lock`` still pinning: in ``get_profile`` (:3466, called by
   ``_maybe_record_profile`` at the end of every command), ``get_collection_options`` (:2552, at
   the start of most commands), ``release_thread_snapshot`` (:3897, which takes the lock BEFORE
   its ``s.reset()``; server.py:735). Writers pin too: they run outside ``_lock``, under
   ``_coll_lock`` and a WT transaction (storage.py:4773 6358 6766). The lock holder's search
   needs the hot right-most leaf that inserts and updates grow; past WT's in-memory split size,
   ``__wt_page_in_func`` must force-evict (split) it first, which fails while any other session
   pins the page, so it sleeps and retries (WT statistics "hazard pointer blocked page eviction",
   "page acquire eviction blocked", "page acquire time sleeping"). Every search of that page pays
   those sleeps while holding the lock, the pinning threads cannot get the lock to unpin, and
   throughput falls to a few ops/s at ~5-10 % CPU.

   Patch: one process-wide operation lock, ``_OP_LOCK``, around every command (``dispatch``:
   the name server.py imports at :22 and calls at :519 :691 :820 :928) and around each iteration
   of the two background threads (``prune_ttl_all_collections``, ``emit_noop_heartbeat``); the
   outermost holder resets its cursors BEFORE letting it go. Those are the only places threads
   touch WT (server.py's other storage calls, :735 :963, only reset or close a session), so
   only the holder's session can pin a page and WT's forced split is never blocked by another
   application session. Whenever the holder must wait for something another command may have to
   do first, it resets its cursors and lets ``_OP_LOCK`` go: ``Storage._oplog_cv`` waits (getMore
   awaitData / change streams commands.py:7529, ``find_seq_for_ts`` storage.py:3256), the
   write-conflict retry sleep (storage.py:1419: waits for another transaction to finish) and a
   contended per-collection lock (``_coll_lock`` storage.py:2325, held only by such a sleeper).
   So nobody waits for ``_OP_LOCK`` while something it holds is needed by the holder, and the
   cycle cannot form. A user transaction's own session, open across commands, gets its cursors
   reset after each statement (``_install_txn_session`` storage.py:4390).
   Lock order: ``_OP_LOCK`` -> ``_coll_lock`` -> ``Storage._lock`` -> ``_oplog_cv``.

2. The decay: ``TransactionRegistry._prune_retryable_locked`` (transactions.py:425-442) scans
   every retryable-write record on each write and retry lookup, and sorts them all once the
   10,000 cap is hit; records live 30 min, so each write costs more the longer the server runs.
   Patch: records kept in insertion (= time) order, expired/excess ones popped from the old end,
   O(1) amortised; same lifetime and cap.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import secantus.server  # type: ignore[import-untyped]
import secantus.storage  # type: ignore[import-untyped]
import secantus.transactions  # type: ignore[import-untyped]
from secantus.cli import main as secantus_main  # type: ignore[import-untyped]
from secantus.storage import Storage
from secantus.transactions import TransactionRegistry

_OP_LOCK = threading.RLock()
_depth = threading.local()  # nesting of _OP_LOCK sections per thread
_close_guard = threading.Lock()  # leaf lock: cursor resets vs Storage.close() closing sessions


def _drop_positions(storage: Storage) -> None:
    """Reset this thread's cached cursors, releasing their hazard pointers (always legal in WT,
    also inside a transaction). Not ``release_thread_snapshot``: that takes ``Storage._lock``,
    and ``_OplogCondition.wait`` calls this holding the condition's lock."""
    with _close_guard:
        if storage._closed or getattr(storage, "_launcher_closing", False):
            return
        for cursor in list((getattr(storage._tls, "cursors", None) or {}).values()):
            with contextlib.suppress(Exception):
                cursor.reset()


def _operation(fn: Callable[..., Any], storage_of: Callable[..., Storage]) -> Callable[..., Any]:
    """``fn`` under ``_OP_LOCK``; the outermost section drops its positions before unlocking."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _OP_LOCK:
            _depth.n = getattr(_depth, "n", 0) + 1
            try:
                return fn(*args, **kwargs)
            finally:
                _depth.n -= 1
                if _depth.n == 0:
                    _drop_positions(storage_of(*args, **kwargs))

    return run


class _OplogCondition(threading.Condition):
    """``Storage._oplog_cv`` whose waits let ``_OP_LOCK`` go, so the write being waited for can
    run. On waking it takes ``_OP_LOCK`` before the condition's lock, the order writers use."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(threading.Lock())
        self._storage = storage

    def wait(self, timeout: float | None = None) -> bool:
        if not _OP_LOCK._is_owned():  # type: ignore[attr-defined]
            return super().wait(timeout)
        _drop_positions(self._storage)
        state = _OP_LOCK._release_save()  # type: ignore[attr-defined]
        try:
            return super().wait(timeout)
        finally:
            self.release()
            _OP_LOCK._acquire_restore(state)  # type: ignore[attr-defined]
            self.acquire()


@contextlib.contextmanager
def _op_lock_released() -> Iterator[None]:
    """Let ``_OP_LOCK`` go entirely (it is reentrant) for a wait, and take it back."""
    if not _OP_LOCK._is_owned():  # type: ignore[attr-defined]
        yield
        return
    state = _OP_LOCK._release_save()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        _OP_LOCK._acquire_restore(state)  # type: ignore[attr-defined]


class _CollLock:
    """A ``Storage._coll_lock`` RLock that, when contended, is waited for without ``_OP_LOCK``
    (the holder is a write-conflict sleeper that needs ``_OP_LOCK`` back to finish)."""

    def __init__(self, lock: Any, storage: Storage) -> None:
        self._lock, self._storage = lock, storage

    def __enter__(self) -> bool:
        if self._lock.acquire(blocking=False):  # free, or ours already (reentrant)
            return True
        if _OP_LOCK._is_owned():  # type: ignore[attr-defined]
            _drop_positions(self._storage)
        with _op_lock_released():
            return bool(self._lock.acquire())

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _sleep_without_op_lock(seconds: float) -> None:
    """``sleep`` of ``secantus.storage._time``: only the write-conflict retry sleeps there
    (storage.py:1419), waiting for a conflicting transaction to finish, so it lets ``_OP_LOCK``
    go. The failed attempt was rolled back, which resets the session's cursors: nothing pins."""
    with _op_lock_released():
        time.sleep(seconds)


def _patch_storage() -> None:
    init, close, install = Storage.__init__, Storage.close, Storage._install_txn_session
    coll_lock = Storage._coll_lock

    @functools.wraps(init)
    def __init__(self: Storage, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._oplog_cv = _OplogCondition(self)  # before the server starts any thread

    @functools.wraps(close)
    def close_(self: Storage) -> None:
        with _close_guard:
            self._launcher_closing = True
        close(self)

    @contextlib.contextmanager
    def _install_txn_session(self: Storage, handle: Any) -> Iterator[Any]:
        with install(self, handle) as session:
            try:
                yield session
            finally:
                for cursor in list(handle.cursors.values()):
                    with contextlib.suppress(Exception):
                        cursor.reset()

    def _coll_lock(self: Storage, db: str, coll: str) -> _CollLock:
        return _CollLock(coll_lock(self, db, coll), self)

    Storage.__init__ = __init__
    Storage._coll_lock = _coll_lock
    Storage.close = close_
    Storage._install_txn_session = _install_txn_session
    for name in ("prune_ttl_all_collections", "emit_noop_heartbeat"):
        setattr(Storage, name, _operation(getattr(Storage, name), lambda self, *a, **k: self))
    secantus.storage._time = types.SimpleNamespace(
        **{**vars(time), "sleep": _sleep_without_op_lock}
    )
    secantus.server.dispatch = _operation(secantus.server.dispatch, lambda body, ctx: ctx.storage)


class _RetryableRecords(collections.OrderedDict[Any, Any]):
    """Oldest record first: re-recording a key moves it to the new end."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)


def _patch_retryable_registry() -> None:
    init = TransactionRegistry.__init__

    @functools.wraps(init)
    def __init__(self: TransactionRegistry, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._retryable = _RetryableRecords(self._retryable)

    def _prune_retryable_locked(self: TransactionRegistry) -> None:
        records = self._retryable
        cutoff = self._time() - secantus.transactions._RETRYABLE_RECORD_LIFETIME_SECONDS
        while records and next(iter(records.values()))[1] < cutoff:
            records.popitem(last=False)
        while len(records) > secantus.transactions._RETRYABLE_RECORD_MAX:
            records.popitem(last=False)

    TransactionRegistry.__init__ = __init__
    TransactionRegistry._prune_retryable_locked = _prune_retryable_locked


def apply() -> None:
    """Install both patches (idempotence not needed: called once, before ``main``)."""
    _patch_storage()
    _patch_retryable_registry()


if __name__ == "__main__":
    apply()
    sys.exit(secantus_main())
