"""``python -m perflab.runners.agents.fixed_start PROGRAM ARGS...``: exec PROGRAM from a fixed starting state: the
side channel on a fixed descriptor number, and only the environment variables the run needs.

Used in front of valgrind (measure = "instructions"). An instruction count depends on the allocators' state when
the benchmark runs, and that state depends on everything the interpreter allocated before, the environment
included: one more variable of one character moved a 15-million-instruction benchmark by 0.5 %, and the
side channel's descriptor number (9 in one child, 11 in another) moved one by 0.08 %. So every process starts with
the same descriptor number and with the variables named in ``PERFLAB_KEEP_ENV`` (comma-separated), the side
channel's and the supervisor's, and those starting with ``CODSPEED_``; nothing else of the caller's environment (a CI job's run id, the
branch name, a terminal's variables) reaches the benchmark.
"""

from __future__ import annotations

import os
import sys

from perflab.runners.agents import wire

FIXED_FD = 99  # low enough to stay below the descriptors valgrind reserves for itself
KEEP = "PERFLAB_KEEP_ENV"
SUPERVISOR = "PERFLAB_SUPERVISOR_TOKEN"  # marks the process tree for the supervisor's final sweep


def fixed_environment(env: dict[str, str]) -> dict[str, str]:
    keep = {k for k in env.get(KEEP, "").split(",") if k} | {wire.ENV_FD, SUPERVISOR}
    return {k: v for k, v in env.items() if k in keep or k.startswith("CODSPEED_")}


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m perflab.runners.agents.fixed_start PROGRAM [ARGS...]")
    env = fixed_environment(dict(os.environ))
    raw = env.get(wire.ENV_FD, "")
    if raw.isdigit() and int(raw) != FIXED_FD:
        os.dup2(int(raw), FIXED_FD, inheritable=True)
        os.close(int(raw))
        env[wire.ENV_FD] = str(FIXED_FD)
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
