"""A child's collected output goes through a spool file: it never waits for perflab, and nothing is lost."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from perflab.runners.framework import spool
from perflab.runners.framework.process import Child

pytestmark = pytest.mark.slow


def _spool_files() -> set[str]:
    """This process's descriptors of unlinked temporary files (what a spool is)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith("(deleted)"):
            found.add(fd)
    return found


def test_spool_hands_on_every_byte_in_order_and_frees_what_was_read() -> None:
    s = spool.create()
    assert s is not None, "this machine's temporary folder should allow punching holes"
    got = bytearray()
    peak = 0
    chunk = bytes(range(256)) * 4096  # 1 MiB, not all the same byte
    for i in range(24):
        os.write(s.fd, chunk[i:] + chunk[:i])
        s.read(got.extend)
        peak = max(peak, os.fstat(s.fd).st_blocks * 512)
    s.read(got.extend)
    assert bytes(got) == b"".join(chunk[i:] + chunk[:i] for i in range(24))
    assert os.fstat(s.fd).st_size == 24 << 20
    # holes behind what was read: the file never held much more than the punch interval
    assert peak <= spool.PUNCH_EVERY + 2 * (1 << 20)
    s.close()


def test_a_chatty_child_does_not_wait_for_a_busy_event_loop(tmp_path: Path) -> None:
    """8 MB printed while perflab's event loop is blocked for 2 s: into a pipe (at most 1 MiB) the child would
    block until the loop reads; into the spool it finishes at once, and every line still arrives."""
    took = tmp_path / "took"
    script = textwrap.dedent(f"""
        import time
        t = time.perf_counter()
        for i in range(80_000):
            print(f"{{i:08d}}" + "x" * 91)
        import sys; sys.stdout.flush()
        open({str(took)!r}, "w").write(repr(time.perf_counter() - t))
    """)
    blocks: list[bytes] = []

    async def go() -> int:
        child = await Child([sys.executable, "-c", script], on_output=lambda stream, b: blocks.append(b),
                            side_channel=False, env={**os.environ, "PYTHONUNBUFFERED": ""}).start()
        time.sleep(2.0)  # noqa: ASYNC251 - the point: the loop is busy, nothing reads the output meanwhile
        return await child.wait(timeout=60)

    before = _spool_files()
    assert asyncio.run(go()) == 0
    assert float(took.read_text()) < 1.5
    lines = b"\n".join(blocks).split(b"\n")
    assert [int(x[:8]) for x in lines] == list(range(80_000))
    assert _spool_files() <= before  # the spool files are closed


def test_output_written_after_the_child_exits_by_its_descendant_is_read(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import os, sys, time
        if os.fork() == 0:
            time.sleep(0.5)
            print("from the grandchild, after the child ended", flush=True)
            os._exit(0)
        print("from the child", flush=True)
    """)
    lines: list[str] = []

    async def go() -> int:
        child = await Child([sys.executable, "-c", script], side_channel=False,
                            on_output=lambda stream, b: lines.extend(b.decode().split("\n"))).start()
        return await child.wait(timeout=30)

    assert asyncio.run(go()) == 0
    assert lines == ["from the child", "from the grandchild, after the child ended"]


def test_a_child_that_awaits_its_lines_keeps_a_pipe() -> None:
    """A server's readiness line must arrive as it is written: unbuffered children and on_line readers keep
    pipes, so no spool file is made for them."""
    assert Child(["true"], on_output=lambda s, b: None, unbuffered=True)._spools() == {}
    assert Child(["true"], on_line=lambda s, line: None)._spools() == {}
    made = Child(["true"], on_output=lambda s, b: None)._spools()
    assert set(made) == {"stdout", "stderr"}
    for s in made.values():
        s.close()
