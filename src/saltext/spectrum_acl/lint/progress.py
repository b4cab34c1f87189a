"""A progress line on stderr for long runs at a terminal (``spectrum-acl lint``, ``check --origins-file``).

Shown only when stderr is a TTY, and only once a run has taken longer than
:data:`DEFAULT_DELAY` seconds (``$SPECTRUM_ACL_PROGRESS_DELAY`` sets another
delay; ``0`` shows it at once). A background thread rewrites it in place with
``\\r`` at most :data:`REFRESH` times a second, so the elapsed time moves even
while one long step runs, and it is cleared when the run ends. Redirected or
piped stderr (CI logs) never gets it, so logs and reports stay unchanged.

    with Progress("linting") as progress:
        progress.update(f"{done}/{total} minion renders")
"""

import os
import sys
import threading
import time

#: Seconds a run takes before its progress line appears.
DEFAULT_DELAY = 2.0
#: Refreshes a second, at most.
REFRESH = 4
#: Environment variable with another delay in seconds (tests use 0).
ENV_DELAY = "SPECTRUM_ACL_PROGRESS_DELAY"
_CLEAR = "\r\x1b[K"


def _delay():
    try:
        return max(0.0, float(os.environ.get(ENV_DELAY, DEFAULT_DELAY)))
    except ValueError:
        return DEFAULT_DELAY


class Progress:
    """``label: what, N.N s`` on ``stream`` (stderr), kept up to date while the ``with`` block runs."""

    def __init__(self, label, stream=None, delay=None, clock=time.monotonic):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.delay = _delay() if delay is None else delay
        self.clock = clock
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._what = ""
        self._shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._started = None

    def __enter__(self):
        if self.enabled:
            self._started = self.clock()
            self._drawn_at = None
            self._thread = threading.Thread(target=self._run, name="spectrum-acl-progress", daemon=True)
            self._thread.start()
        return self

    def update(self, what):
        """Say what the run is doing now: drawn now when a refresh is due, else at the next one."""
        self._what = what
        if self._started is not None and not self._stop.is_set():
            self._draw()

    def _run(self):
        while not self._stop.wait(1 / REFRESH):
            self._draw()

    def _draw(self):
        with self._lock:
            now = self.clock()
            if now - self._started < self.delay or (self._drawn_at is not None and now - self._drawn_at < 1 / REFRESH):
                return
            elapsed = now - self._started
            text = f"{self.label}: {self._what}, {elapsed:.1f} s" if self._what else f"{self.label}: {elapsed:.1f} s"
            self.stream.write(_CLEAR + text)
            self.stream.flush()
            self._drawn_at = now
            self._shown = True

    def __exit__(self, *exc_info):
        if not self.enabled:
            return
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self._shown:
                self.stream.write(_CLEAR)
                self.stream.flush()
