"""Fail points: named places where tests make a process die on purpose.

`AUDITSTREAM_FAILPOINTS=sink.after_insert` makes `hit("sink.after_insert")` kill the
process at once (as kill -9 would, exit code 137), so fault tests can stop a process at
an exact step. `name=COUNT@AFTER` makes `drop(name)` true for COUNT calls after the
first AFTER (`producer.send=10@20` loses the 21st to 30th record a producer sends), to
show that a loss is noticed. Without the variable, `hit` and `drop` do nothing.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading

ENV = "AUDITSTREAM_FAILPOINTS"
_DROP = re.compile(r"(?P<name>[\w.]+)=(?P<count>\d+)(?:@(?P<after>\d+))?")


@functools.cache
def active() -> frozenset[str]:
    """The fail points named in the environment, read at the first `hit`."""
    return frozenset(filter(None, os.environ.get(ENV, "").split(",")))


def hit(name: str) -> None:
    if name in active():
        logging.getLogger(__name__).critical("fail point %s reached: exiting", name)
        logging.shutdown()
        os._exit(137)


class _Drops:
    """Calls seen and still to drop, per fail point named `name=COUNT@AFTER`."""

    def __init__(self, spec: frozenset[str]) -> None:
        self.lock = threading.Lock()
        self.plan: dict[str, list[int]] = {}  # name -> [calls to pass, calls to drop]
        for item in spec:
            match = _DROP.fullmatch(item)
            if match:
                self.plan[match["name"]] = [int(match["after"] or 0), int(match["count"])]


@functools.cache
def _drops() -> _Drops:
    return _Drops(active())


def drop(name: str) -> bool:
    """True when this call is one the fail point `name=COUNT@AFTER` loses."""
    drops = _drops()
    if not drops.plan:
        return False
    with drops.lock:
        plan = drops.plan.get(name)
        if plan is None or plan[1] == 0:
            return False
        if plan[0] > 0:
            plan[0] -= 1
            return False
        plan[1] -= 1
    logging.getLogger(__name__).warning("fail point %s: dropping this call", name)
    return True
