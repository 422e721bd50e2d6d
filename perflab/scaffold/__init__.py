"""Scaffolding a user's performance suite: ``perflab init`` and ``perflab new KIND ...``.

Nothing here is imported by ``perflab --help``; cli.py imports ``perflab.commands.scaffold`` when one of these
runs.
"""
