"""Splitting work into the batch sizes AWS APIs accept (100 servers per job, 100 items per transaction, ...).

itertools.batched would do, but it needs Python 3.12 and the project also runs on 3.11 locally.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items, in order."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
