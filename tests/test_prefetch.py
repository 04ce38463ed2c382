import threading
import time

import pytest

from movinet_cli.prefetch import Prefetched


def test_items_arrive_in_order():
    assert list(Prefetched(iter(range(100)), depth=3)) == list(range(100))


def test_the_producer_stays_at_most_depth_items_ahead():
    produced = []

    def items():
        for index in range(50):
            produced.append(index)
            yield index

    prefetched = Prefetched(items(), depth=4)
    for consumed, _ in enumerate(prefetched):
        time.sleep(0.002)
        assert len(produced) - consumed <= 4 + 2  # the queue, plus one in hand on each side


def test_errors_reach_the_consumer_after_the_good_items():
    def items():
        yield 1
        yield 2
        raise ValueError("broken file")

    prefetched = Prefetched(items(), depth=1)
    assert next(prefetched) == 1 and next(prefetched) == 2
    with pytest.raises(ValueError, match="broken file"):
        next(prefetched)


def test_close_stops_the_producer_early():
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield 1

    prefetched = Prefetched(endless(), depth=2)
    next(prefetched)
    prefetched.close()
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count
    assert not any(t.name == "movinet-prefetch" and t.is_alive() for t in threading.enumerate() if t is prefetched._thread)
