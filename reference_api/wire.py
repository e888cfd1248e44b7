"""One send per answer: uvicorn's httptools protocol, with the writes of one event-loop turn
coalesced into one send.

uvicorn writes an answer's status line and headers when the app sends ``http.response.start``
and the body when it sends ``http.response.body``: two sends, with the app's middleware between
them (and, under a CPU quota, possibly a throttled period). A replica killed between the two
leaves nginx holding a header and no body. nginx has then committed that answer to the client,
and "passing a request to the next server is only possible if nothing has been sent to a client
yet" (proxy_next_upstream): the client gets a cut answer, not a retry on another replica. CI
caught one: a GET cut at "received 0 bytes, expected 15" while a container was killed under a
stream of GETs.

With the writes of one turn sent together (aiohttp coalesces small answers the same way,
aio-libs/aiohttp#10991), a kill lands either before the send, and nginx sees the connection close
before any header (an ``error``, retried on the next replica), or after it, and the whole answer
is in the kernel, which delivers it. An answer larger than ``FLUSH_AT`` goes out as soon as that
much is waiting, so a big body is never held and flow control keeps working.

Command line: ``uvicorn --http reference_api.wire:CoalescingHttpProtocol ...``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_AT = 64 * 1024


class CoalescingTransport:
    """A transport whose writes wait for the end of the loop's turn (or ``FLUSH_AT`` bytes) and
    then leave in one ``writelines``: one ``writev``/``send`` while the socket takes it all.
    Everything else is the wrapped transport's."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._on_turn_end)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _on_turn_end(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._size = self._pending, [], 0
        if self._inner.is_closing():
            return  # the peer is gone (or the transport aborted): nothing can be delivered
        if len(pending) == 1:
            self._inner.write(pending[0])
        else:
            self._inner.writelines(pending)

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
