"""Scaffolding a user's performance suite: ``perflab init`` and ``perflab new KIND ...``.

Nothing here is imported by ``perflab --help``; cli.py imports ``commands`` when one of these runs.
"""
