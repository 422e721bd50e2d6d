"""perflab: a performance lab for Python code."""

import sys as _sys


def _run_as_program() -> bool:
    """Whether this import is runpy's, for ``python -m perflab``: ``sys.argv[0]`` is "-m" only while runpy
    imports the named module's packages, and the original command line names perflab itself."""
    if _sys.argv[:1] != ["-m"]:
        return False
    argv = list(getattr(_sys, "orig_argv", []))
    return any(a == "-m" and argv[i + 1:i + 2] == ["perflab"] or a == "-mperflab" for i, a in enumerate(argv))


if _run_as_program():
    # Ctrl-C between this import and perflab.__main__ blocking it would raise KeyboardInterrupt inside runpy's
    # import machinery, where Python can report it as "Exception ignored" and carry on: the interruption lost and
    # the run done anyway. Blocked here, it stays pending until perflab.cli.main() unblocks it in its handler.
    import _signal

    _signal.pthread_sigmask(_signal.SIG_BLOCK, [_signal.SIGINT])

__version__ = "0.1.0"
