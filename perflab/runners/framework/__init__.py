"""What every runner family shares: the Runner protocol, the run context and the registry (base.py), the child
supervisor (process.py), the child's environment and target (child.py), tool lookup (tools.py), bounded output
(output.py), and the clean-up of orphans (reaper.py, watchdog.py)."""
