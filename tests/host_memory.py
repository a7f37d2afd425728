"""Peak anonymous host memory (heap, not memory-mapped file pages) of a call, for the tests
that check node vectors stream from disk instead of being copied (Linux: /proc/self/status)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

STATUS = Path("/proc/self/status")


def anonymous_bytes() -> int:
    """RssAnon of this process: resident heap pages, without file-backed (memory-mapped) ones."""
    for line in STATUS.read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def peak_anonymous_growth(fn, interval: float = 0.002):
    """(fn(), the peak of RssAnon during the call minus RssAnon before it), sampled every
    ``interval`` seconds in a thread."""
    start = anonymous_bytes()
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], anonymous_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn()
    finally:
        done.set()
        thread.join()
    return result, max(peak[0], anonymous_bytes()) - start
