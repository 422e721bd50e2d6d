"""Turn a target description into a zero-argument function, inside the child.

``{"callable": "mod:fn", "input": "mod:gen", "params": {...}, "args": [...]}`` calls ``fn(gen(**params))``
(the input is built once, outside any measured region) or ``fn(*args)``; ``{"script": path, "argv": [...]}``
runs the script's top level once per call (``runpy.run_path`` with ``__name__ == "__main__"``).
"""

from __future__ import annotations

import inspect
import os
import runpy
import sys
from collections.abc import Callable
from typing import Any

from perflab.runners.agents import wire


def build(config: dict[str, Any]) -> Callable[[], Any]:
    if config.get("script"):
        path = os.path.abspath(config["script"])
        argv = [path, *config.get("argv", [])]
        sys.path.insert(0, os.path.dirname(path))

        def run_script() -> Any:
            saved = sys.argv
            sys.argv = list(argv)
            try:
                return runpy.run_path(path, run_name="__main__")
            finally:
                sys.argv = saved

        return run_script
    fn = wire.resolve(config["callable"])
    if inspect.iscoroutinefunction(fn):
        import asyncio  # only when needed: it pulls in ssl and friends, which would show in profiles

        loop = asyncio.new_event_loop()
        coro_fn = fn

        def fn(*a: Any, **kw: Any) -> Any:  # noqa: F811 - wraps the coroutine function
            return loop.run_until_complete(coro_fn(*a, **kw))

    if config.get("input"):
        made = wire.resolve(config["input"])(**dict(config.get("params") or {}))
        return lambda: fn(made)
    args = tuple(config.get("args") or ())
    params = dict(config.get("params") or {})
    return lambda: fn(*args, **params)


def rss_bytes() -> int:
    """Current resident set size in bytes (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
