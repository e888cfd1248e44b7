"""Waiting on a condition, never on the clock: every poll of the suite goes through here.

A deadline here only catches a hang. ``HANG_S`` is far past the time any condition of the suite
takes on a busy machine, so reaching it means the thing waited for is not coming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

HANG_S = 60.0
POLL_S = 0.02


def wait_until(
    check: Callable[[], T | None], timeout: float = HANG_S, interval: float = POLL_S
) -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds (a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s: a hang")
        time.sleep(interval)  # the pause between two looks at the condition, not a wait for it


async def wait_until_async(check: Callable[[], Awaitable[T | None]]) -> T:
    """:func:`wait_until` inside an event loop, for a check that awaits; its hang guard is
    ``asyncio.timeout(HANG_S)`` around the whole wait."""
    async with asyncio.timeout(HANG_S):
        while not (result := await check()):  # noqa: ASYNC110 - no event announces these conditions
            await asyncio.sleep(POLL_S)  # the pause between two looks, as in wait_until
    return result
