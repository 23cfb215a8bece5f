"""A bounded per-process memo for things rebuilt from the database under a key read on every request.

The key must hold everything the value is built from (a stamp read from the database), so that each app
process stays correct on its own: the memo only spares recomputing, it never decides freshness.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Least recently used out first; safe to share between the request threads of a process."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """For benchmarks of the first request after a start."""
        with self._lock:
            self._items.clear()
