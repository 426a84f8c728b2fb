"""The switch interval is short while any background write is in flight, then as before."""

import sys
import threading
from collections.abc import Iterator

import pytest

from fidela.store import switching

# Python keeps the interval in whole microseconds: compare to within 2 %.


@pytest.fixture(autouse=True)
def default_interval() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # Python's default
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_the_last_write_to_end_puts_back_the_interval_the_first_found() -> None:
    switching.quicken()
    switching.quicken()
    assert sys.getswitchinterval() == pytest.approx(switching.SWITCH_INTERVAL, rel=0.02)
    switching.restore()
    assert sys.getswitchinterval() == pytest.approx(switching.SWITCH_INTERVAL, rel=0.02)
    switching.restore()
    assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.02)


def test_an_interval_already_shorter_is_kept() -> None:
    sys.setswitchinterval(0.0001)
    switching.quicken()
    assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)
    switching.restore()
    assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)


def test_writes_in_many_threads_leave_the_interval_as_found() -> None:
    start = threading.Barrier(8)

    def write() -> None:
        start.wait()
        for _ in range(200):
            switching.quicken()
            switching.restore()

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.02)
