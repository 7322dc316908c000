"""Waiting in async tests: poll a condition, bounded, and fail naming what never came."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    check: Callable[[], bool], what: str, timeout_s: float = 20.0, every_s: float = 0.05
) -> None:
    """Poll `check()` every `every_s` until it is true; AssertionError after `timeout_s`."""
    for _ in range(int(timeout_s / every_s)):
        if check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")
