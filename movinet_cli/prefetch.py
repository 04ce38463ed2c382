"""Running an iterator ahead in a background thread, with a bounded queue.

OpenCV decoding and OpenVINO inference both release the GIL, so decoding the next frames
(or the next videos) in a thread overlaps the model's work on the current ones.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

Item = TypeVar("Item")
_DONE = object()
_POLL_S = 0.1  # how often a blocked producer checks whether it was cancelled


class Prefetched(Iterator[Item]):
    """Iterates ``items`` in a daemon thread, keeping at most ``depth`` items ready.

    An exception raised by ``items`` is raised again by ``__next__`` in the consumer's
    thread. ``close()`` stops the producer early (it is called at the end of iteration).
    """

    def __init__(self, items: Iterable[Item], depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(items,), daemon=True, name="movinet-prefetch")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._cancelled.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, items: Iterable[Item]) -> None:
        try:
            for item in items:
                if not self._put((item, None)):
                    return
            self._put((_DONE, None))
        except BaseException as error:  # handed to the consumer, raised there
            self._put((_DONE, error))

    def __next__(self) -> Item:
        if self._cancelled.is_set():
            raise StopIteration
        item, error = self._queue.get()
        if item is _DONE:
            self._cancelled.set()
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stops the producer and waits for its thread."""
        self._cancelled.set()
        self._thread.join()
