"""``python -m perflab``: the same entry point as the ``perflab`` script (perflab.cli.main)."""

import _signal

# Ctrl-C while perflab.cli loads stays pending until main() unblocks it inside its handler (a KeyboardInterrupt
# raised by an import would end in a traceback). ``_signal``: built in, no import time of its own.
_signal.pthread_sigmask(_signal.SIG_BLOCK, [_signal.SIGINT])

from perflab.cli import main  # noqa: E402

code = main()
# Under -m, CPython exits by SIGINT (status -2, no message) when any string exec() ended in KeyboardInterrupt
# during the run, even one that main() caught: it records that in a flag its -m path checks at exit
# (run_eval_code_obj in pythonrun.c). dataclasses and namedtuple build methods with string exec, so a Ctrl-C
# while modules load lands there. Each string exec that completes resets the flag.
exec("")
raise SystemExit(code)
