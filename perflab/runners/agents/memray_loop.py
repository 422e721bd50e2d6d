"""The loop agent under memray's Tracker, inside the child: ``python -m perflab.runners.agents.memray_loop CONFIG``.

``memray run -m perflab.runners.agents.loop_call`` tracks the interpreter from the start, so perflab's own imports
(the agent, the wire format, dataclasses building its messages) were most of a callable's allocations. Here
the agent imports what it needs first and tracks only from just before the target is imported until its loop
ends: what is counted is what ``memray run`` counts for a script that imports the target and calls it in a loop,
plus the loop agent's progress messages (a few small allocations every half second).

CONFIG is the loop agent's (agents/loop_call.py) plus ``memray``: ``output`` (capture path, overwritten),
``native``, ``trace_python_allocators``, ``follow_fork`` (memray run's options of those names).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from perflab.runners.agents import loop_call


def main(config: dict[str, Any]) -> int:
    import memray  # the tool this agent hooks

    m = config["memray"]

    def tracker() -> Any:
        return memray.Tracker(destination=memray.FileDestination(m["output"], overwrite=True),
                              native_traces=bool(m.get("native")),
                              trace_python_allocators=bool(m.get("trace_python_allocators")),
                              follow_fork=bool(m.get("follow_fork")))

    return loop_call.main(config, tracker)


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
