"""Fail points: named places where tests make a process die on purpose.

`AUDITSTREAM_FAILPOINTS=sink.after_insert` makes `hit("sink.after_insert")` kill the
process at once (as kill -9 would, exit code 137), so fault tests can stop a process at
an exact step. Without the variable, `hit` does nothing.
"""

from __future__ import annotations

import functools
import logging
import os

ENV = "AUDITSTREAM_FAILPOINTS"


@functools.cache
def active() -> frozenset[str]:
    """The fail points named in the environment, read at the first `hit`."""
    return frozenset(filter(None, os.environ.get(ENV, "").split(",")))


def hit(name: str) -> None:
    if name in active():
        logging.getLogger(__name__).critical("fail point %s reached: exiting", name)
        logging.shutdown()
        os._exit(137)
