"""Monitor pieces that need no subprocess: the supervisor token's name, and the gate that starts a walk."""

from __future__ import annotations

import sys
import threading

import pytest

from perflab.core import monitor, proctree
from perflab.runners.framework import process


def test_the_token_name_is_the_one_the_supervisor_sets() -> None:
    assert proctree.SUPERVISOR_TOKEN_ENV == process.ENV_TOKEN


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/loadavg")
def test_a_new_thread_opens_the_gate_and_close_releases_it() -> None:
    mon = monitor.ProcessMonitor(lambda e: None)
    mon._forked()  # notes the last pid handed out so far
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    assert mon._forked()  # a thread got a pid since: the trees must be walked
    mon.close()
    assert mon._gate_fd == -1
