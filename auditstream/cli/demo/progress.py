"""Progress of a long demo step on stderr."""

from __future__ import annotations

import sys


class ProgressBar:
    """A one-line progress bar on stderr when it is a terminal, else a few lines."""

    def __init__(self, what: str, total: int, width: int = 30) -> None:
        self.what, self.total, self.width = what, max(total, 1), width
        self.tty = sys.stderr.isatty()
        self.last_quarter = -1

    def show(self, done: int) -> None:
        share = min(done / self.total, 1.0)
        if self.tty:
            filled = int(share * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            print(f"\r  [{bar}] {done:>7,}/{self.total:,} {self.what}", end="", file=sys.stderr)
            sys.stderr.flush()
        elif int(share * 4) > self.last_quarter:
            self.last_quarter = int(share * 4)
            print(f"  {done:,}/{self.total:,} {self.what}", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr, flush=True)
