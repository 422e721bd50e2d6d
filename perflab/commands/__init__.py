"""The commands other than a run: one module per command group, each imported by cli.py only when it runs.

Nothing here is imported by ``perflab --help`` or ``--version``, so this file stays empty of imports.
"""
