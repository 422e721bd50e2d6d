"""The profile family: CPU sampling with py-spy (cpu.py, flame.py), memory with memray (memory.py,
memray_live.py), leak checks under tracemalloc (leak.py), and the loop that keeps a callable busy while it is
profiled (profiled.py)."""
