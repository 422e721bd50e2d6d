"""Code that runs inside the measured child process.

Modules here import only :mod:`perflab.runners.agents.wire` and the tool they hook (pytest, locust, ...),
never the rest of perflab, so the child stays light and cannot be disturbed by perflab's own imports.
"""
