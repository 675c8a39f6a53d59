"""Live progress of a run on the terminal, and the short report of a failed notebook."""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time

__all__ = ["progress_wanted", "clock", "Progress", "failure_block"]


def progress_wanted(stream=None) -> bool:
    """Live progress: ``AVLIB_PROGRESS`` when set (``0`` off, anything else on), else on a terminal."""
    flag = os.environ.get("AVLIB_PROGRESS")
    if flag is not None:
        return flag.strip().lower() not in ("0", "false", "no", "off", "")
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """One status line on stderr: notebook, cell i/n, elapsed and estimated time left.

    On a terminal the line is redrawn in place every second; elsewhere (``AVLIB_PROGRESS=1``
    into a log file) one line is written per cell.
    """

    def __init__(self, stream=None, *, enabled: bool = True, interval: float = 1.0):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._drawn = False
        self.name, self.index, self.count = "", 0, 0
        self.cell, self.cells = None, 0
        self.expected, self.after = None, 0.0
        self.t0 = time.perf_counter()

    def start(self, name: str, index: int, count: int, *, expected: float | None, after: float, unknown_after: bool):
        """A notebook starts: ``expected`` s from its last run (or None); ``after`` s expected for
        the notebooks still to come (``unknown_after``: some of them have no recorded time)."""
        self.name, self.index, self.count = name, index, count
        self.cell, self.cells = None, 0
        self.expected, self.after, self.unknown_after = expected, after, unknown_after
        self.t0 = time.perf_counter()
        if self.enabled and self.tty:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def on_cell(self, index, total):
        """papermill starts cell ``index`` (0-based) of ``total``."""
        with self._lock:
            self.cell, self.cells = index, total
        if self.enabled:
            self._draw(newline=not self.tty)

    def stop(self):
        """The notebook ended: remove the status line."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._drawn and self.tty:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._drawn = False

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        cell = f"cell {self.cell + 1}/{self.cells}" if self.cell is not None else "starting the kernel"
        text = f"    {self.name}: {cell}, {clock(elapsed)} elapsed"
        if self.expected is None:
            text += ", no earlier run at this scale to estimate the time left"
            left = 0.0
        else:
            left = self.expected - elapsed
            if left > 0:
                text += f", about {clock(left)} left (last run {clock(self.expected)})"
            else:
                text += f", longer than the last run ({clock(self.expected)})"
        if self.count > self.index and self.after > 0:
            text += (f"; {self.count - self.index} more notebook(s): "
                     f"{'at least ' if self.unknown_after else 'about '}{clock(max(left, 0) + self.after)} left in all")
        return text

    def _draw(self, *, newline: bool):
        with self._lock:
            text = self.line()
            if newline:
                self.stream.write(text + "\n")
            else:
                width = shutil.get_terminal_size((120, 20)).columns
                self.stream.write("\r\033[K" + text[: max(width - 1, 20)])
                self._drawn = True
            self.stream.flush()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._draw(newline=False)


def _short(text: str, limit: int = 400) -> str:
    """An exception message for the terminal: ANSI colours removed, at most ``limit`` characters."""

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_block(name: str, error: dict, kept: str) -> str:
    """The one short report of a failed notebook: where, what, and where its output is."""
    cell, cells = error.get("cell"), error.get("cells")
    if cell is None:
        where = "before its first cell ran"
    else:
        where = f"cell {cell + 1}" + (f" of {cells}" if cells else "")
        if error.get("execution_count") is not None:
            where += f" (execution count [{error['execution_count']}])"
        elif error.get("ename") not in (None, "") and error.get("kernel_stopped"):
            where += " (running when the kernel stopped)"
    message = _short(error.get("evalue", ""))
    what = f"{error.get('ename') or 'Error'}: {message}" if message else f"{error.get('ename') or 'Error'}"
    what = what.replace("\n", "\n        ")
    return (f"    FAILED: notebook {name}, {where}\n"
            f"        {what}\n"
            f"        executed notebook kept in {kept}")
