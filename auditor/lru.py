"""A mapping that forgets its least recently used entries beyond a cap: the run's caches stay bounded.

A scan's caches (DNS answers, DNSSEC zone outcomes, RDAP owners, scanned endpoints) save work when several
domains share a name or a host; without a cap they grow with the number of domains, and a 10,000-domain
campaign would keep every answer it ever saw. An evicted entry costs only a repeated question.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class Lru(OrderedDict[K, V]):
    """An OrderedDict holding at most `cap` entries: reads and writes make an entry the most recent, a write
    beyond the cap drops the oldest."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"an LRU cache needs a cap of at least 1, got {cap}")
        super().__init__()
        self.cap = cap

    def __getitem__(self, key: K) -> V:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    @overload
    def get(self, key: K, default: None = None) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        if key in self:
            return self[key]
        return default

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.cap:
            self.popitem(last=False)
