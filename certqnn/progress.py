"""Progress display: a tqdm bar that appears only when a run lasts more than a couple of seconds."""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager

from tqdm.auto import tqdm

_ENABLED = os.environ.get("CERTQNN_PROGRESS", "1") != "0"


def set_enabled(enabled: bool):
    global _ENABLED
    _ENABLED = enabled


def progress(total=None, desc: str = "", unit: str = "it", **kwargs):
    """A tqdm bar on stderr, shown after 2 s on a terminal (silent in short runs, in logs and
    pipes -- tqdm's disable=None means "not a TTY" -- and when disabled)."""
    return tqdm(total=total, desc=desc, unit=unit, delay=2.0, file=sys.stderr, leave=False,
                disable=None if _ENABLED else True, dynamic_ncols=True, **kwargs)


@contextmanager
def working(desc: str):
    """A bar showing the elapsed time of one blocking call (a solver that reports nothing while it
    runs), refreshed by a background thread; shown, like every bar, only after 2 s on a terminal."""
    bar = progress(total=None, desc=desc, bar_format="{desc}: {elapsed} elapsed")
    stop = threading.Event()
    start = time.perf_counter()

    def tick():
        while not stop.wait(0.5):
            if time.perf_counter() - start >= 2.0:
                bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()
        bar.close()
