"""Failed invalidations: what the retry bumps, and the bound that folds them into the epoch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from reference_api._pending import PendingBumps


def counters(user_id: str, tasks: Iterable[str]) -> list[str]:
    return [f"v:{user_id}", *sorted(f"g:{user_id}:{task}" for task in tasks)]


async def retried(remembered: list[tuple[str, str | None]], max_pending: int) -> list[list[str]]:
    """Remember the failed invalidations while Redis is down, then let the first retry land;
    the counters it bumped. Checks on the way that the users are bypassed until then."""
    bumps: list[list[str]] = []
    landed = asyncio.Event()

    async def bump(keys: list[str]) -> bool:
        bumps.append(keys)
        landed.set()
        return True

    pending = PendingBumps(bump, counters, "epoch", ttl=300, max_pending=max_pending)
    try:
        for user_id, task in remembered:
            pending.remember(user_id, task)
        assert all(pending.covers(user_id) for user_id, _ in remembered)
        await landed.wait()
        assert not any(pending.covers(user_id) for user_id, _ in remembered)
    finally:
        await pending.aclose()
    return bumps


def test_the_retry_bumps_each_users_version_and_the_generations_of_the_tasks_written() -> None:
    remembered = [("u0", "t1"), ("u1", None), ("u0", "t2"), ("u0", "t1")]

    bumps = asyncio.run(retried(remembered, max_pending=10))

    assert [sorted(keys) for keys in bumps] == [["g:u0:t1", "g:u0:t2", "v:u0", "v:u1"]]


def test_past_max_pending_counters_tasks_included_the_retry_bumps_the_epoch_instead() -> None:
    # u0's version and two generations, then u1's version: four counters over a bound of three.
    remembered = [("u0", "t1"), ("u0", "t2"), ("u1", None)]

    bumps = asyncio.run(retried(remembered, max_pending=3))

    assert bumps == [["epoch"]]


def test_while_the_epoch_bump_is_pending_every_user_is_bypassed() -> None:
    async def scenario() -> bool:
        async def down(keys: list[str]) -> bool:
            return False

        pending = PendingBumps(down, counters, "epoch", ttl=300, max_pending=1)
        try:
            pending.remember("u0", "t1")
            return pending.covers("someone else")
        finally:
            await pending.aclose()

    assert asyncio.run(scenario())
