"""What every runner family shares: the Runner protocol, the run context and the registry (base.py), the child
supervisor (process.py), the child's environment and target (child.py), tool lookup (tools.py), bounded output
(output.py), the clean-up of orphans (reaper.py, watchdog.py), and the profilers more than one family runs:
py-spy sampling (sampling.py, with flame.py for folded stacks) and memray's reports (memray_capture.py).
No family imports another (an import-linter contract): what two families need lives here."""
