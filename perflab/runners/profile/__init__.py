"""The profile family: CPU sampling with py-spy (cpu.py, on framework/sampling.py), memory with memray
(memory.py on framework/memray_capture.py, memray_live.py), leak checks under tracemalloc (leak.py), and the
loop that keeps a callable busy while it is profiled (profiled.py)."""
