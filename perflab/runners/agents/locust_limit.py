"""A hard time limit for every Locust process perflab starts, loaded as an extra locustfile (``-f ...,this``).

Locust's own ``--run-time`` does not bound a run driven by a load shape (perflab's ``steps`` and the stress
runner's ``control`` shape): it is only armed after the shape ends. This module bounds any Locust process,
whatever drives it, by ``PERFLAB_LOCUST_LIMIT`` seconds counted from its import (Locust's start):

- at the limit a standalone Locust or a master quits the way a finished run does (final statistics and reports
  written; a master tells its workers to quit);
- ``KILL_AFTER`` seconds later any Locust process still alive (a worker, or a process too stuck to quit) is
  ended by the kernel: SIGALRM, whose default action terminates the process without running any of its code.

Without the variable (a ``perflab worker`` that downloaded this file from the master) it does nothing; a
locustfile that sets its own SIGALRM handler or alarm replaces the backstop (the quit at the limit remains).
It defines no User class, so Locust takes the user's locustfile's classes as they are.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

LIMIT_ENV = "PERFLAB_LOCUST_LIMIT"
KILL_AFTER = 15.0  # seconds after the limit

LIMIT = float(os.environ.get(LIMIT_ENV) or 0)

if LIMIT > 0:
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, math.ceil(LIMIT + KILL_AFTER)))

    @events.init.add_listener
    def _arm(environment: Any, **_: Any) -> None:
        runner = environment.runner
        if runner is None or isinstance(runner, WorkerRunner):
            return  # the master tells its workers to quit; the alarm covers a worker left alone

        def stop() -> None:
            logging.getLogger("perflab").warning("perflab's time limit for Locust (%g s) reached: quitting", LIMIT)
            runner.quit()

        gevent.spawn_later(LIMIT, stop)
