"""Python's thread switch interval, kept short while a second thread writes.

A thread that needs the GIL gets it when the thread holding it lets go, which a thread
running Python does only after the switch interval: 5 ms by default. The ledger's
writing thread needs the GIL for a moment before and after each statement it sends,
while the thread beside it applies the rules to the next part: with 5 ms it waited
that long, several times a part. In process, a batch of 1,000 events took 209 ms with
5 ms and 175 ms with 0.5 ms.

The interval is the process's, so the writes in flight are counted: the first to start
lowers it, the last to end puts back what it found.
"""

from __future__ import annotations

import sys
import threading

SWITCH_INTERVAL = 0.0005  # seconds a thread holds the GIL while another waits for it

_lock = threading.Lock()
_writing = 0  # writes in flight that asked for quick switches
_before = SWITCH_INTERVAL  # the interval found by the first of them


def quicken() -> None:
    """Shorten the switch interval until the matching `restore`."""
    global _writing, _before
    with _lock:
        if _writing == 0:
            _before = sys.getswitchinterval()
            sys.setswitchinterval(min(_before, SWITCH_INTERVAL))
        _writing += 1


def restore() -> None:
    """End one `quicken`; the last one to end puts back the interval found by the first."""
    global _writing
    with _lock:
        _writing -= 1
        if _writing == 0:
            sys.setswitchinterval(_before)
