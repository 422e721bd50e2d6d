"""The subprocess supervisor on real processes: stop escalation, whole-tree kill, capture, side channel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from perflab.core.model import ToolError
from perflab.runners.framework.process import Child, describe_exit, python_argv


def py(code: str) -> list[str]:
    return python_argv("-c", textwrap.dedent(code))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return all(gone(p) for p in pids)


def pids_in(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


async def read_pids(path: Path, count: int, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # noqa: ASYNC110 - polling a file the child writes
        pids = pids_in(path)
        if len(pids) >= count:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError(f"child did not write {count} pids to {path}")


def test_lines_captured_and_exit_code() -> None:
    lines: list[tuple[str, str]] = []

    async def go() -> int:
        child = await Child(py("""
            import sys
            print("hello out")
            print("hello err", file=sys.stderr)
            print("tail " + "x" * 100)
            sys.exit(7)
        """), on_line=lambda s, line: lines.append((s, line))).start()
        return await child.wait(timeout=20)

    assert asyncio.run(go()) == 7
    assert ("stdout", "hello out") in lines
    assert ("stderr", "hello err") in lines
    assert ("stdout", "tail " + "x" * 100) in lines


def test_side_channel_records_survive_garbage_on_stdout() -> None:
    records: list[dict[str, Any]] = []
    lines: list[str] = []

    async def go() -> int:
        child = await Child(py("""
            import os, sys
            from perflab.runners.agents import wire
            ch = wire.channel()
            assert ch.connected
            for i in range(200):
                sys.stdout.write('{"k": "fake", "i": %d}\\n' % i)   # looks like a record, is not one
                sys.stdout.buffer.write(b"\\xff\\xfe garbage \\x00\\n")
                ch.send("bench", i=i, data=[i * 0.5] * 50, text="quote \\" and newline \\n inside")
            sys.stdout.flush()  # buffered lines first, whatever PYTHONUNBUFFERED says
            os.write(1, b"no newline at the end")
        """), on_record=records.append, on_line=lambda s, line: lines.append(line)).start()
        return await child.wait(timeout=30)

    assert asyncio.run(go()) == 0
    assert [r["i"] for r in records] == list(range(200))
    assert all(r["k"] == "bench" for r in records)
    assert records[7]["data"] == [3.5] * 50
    assert records[0]["text"] == 'quote " and newline \n inside'
    assert sum(1 for x in lines if x.startswith('{"k": "fake"')) == 200
    assert lines[-1] == "no newline at the end"


def test_timeout_stops_the_child_and_raises() -> None:
    async def go() -> Child:
        child = await Child(py("import time; time.sleep(60)")).start()
        with pytest.raises(TimeoutError):
            await child.wait(timeout=0.5)
        return child

    t0 = time.monotonic()
    child = asyncio.run(go())
    assert time.monotonic() - t0 < 10
    assert child.returncode is not None and child.returncode < 0
    assert child.signals_sent[0] == "SIGINT"
    assert gone(child.pid)


def test_child_ignoring_sigint_and_sigterm_gets_sigkill(tmp_path: Path) -> None:
    ready = tmp_path / "ready"

    async def go() -> tuple[Child, int | None]:
        child = await Child(py(f"""
            import signal, time, pathlib
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            pathlib.Path({str(ready)!r}).write_text("1")
            while True:
                time.sleep(0.1)
        """)).start()
        deadline = time.monotonic() + 10
        while not pids_in(ready) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a file
            await asyncio.sleep(0.05)
        code = await child.stop(interrupt_grace=0.3, term_grace=0.3)
        return child, code

    child, code = asyncio.run(go())
    assert child.signals_sent == ["SIGINT", "SIGTERM", "SIGKILL"]
    assert code == -9
    assert describe_exit(code) == "killed by SIGKILL"
    assert gone(child.pid)


@pytest.mark.parametrize("escape", ["same-group", "setsid", "daemon"])
def test_grandchildren_do_not_outlive_the_stop(tmp_path: Path, escape: str) -> None:
    """A grandchild in the group, one that called setsid, and one that double-forked away (daemon)."""
    pids_file = tmp_path / "pids"
    code = f"""
        import os, signal, subprocess, sys, time
        pre = {{"same-group": None, "setsid": os.setsid, "daemon": os.setsid}}[{escape!r}]
        sleeper = [sys.executable, "-c",
                   "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                   "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(120)"]
        if {escape!r} == "daemon":
            # the middle process exits: the grandchild is re-parented away from our tree
            mid = subprocess.Popen([sys.executable, "-c",
                "import subprocess, sys; p = subprocess.Popen(sys.argv[1:], preexec_fn=__import__('os').setsid);"
                "open({str(pids_file)!r}, 'a').write(str(p.pid) + ' ')"] + sleeper)
            mid.wait()
        else:
            p = subprocess.Popen(sleeper, preexec_fn=pre)
            open({str(pids_file)!r}, "a").write(str(p.pid) + " ")
        open({str(pids_file)!r}, "a").write(str(os.getpid()) + " ")
        time.sleep(120)
    """

    async def go() -> tuple[list[int], float]:
        child = await Child(py(code)).start()
        pids = await read_pids(pids_file, 2)
        t0 = time.monotonic()
        await child.stop(interrupt_grace=0.3, term_grace=0.3)
        return pids, time.monotonic() - t0

    pids, took = asyncio.run(go())
    try:
        assert wait_gone(pids), f"{escape}: survivors {[p for p in pids if not gone(p)]}"
    finally:
        for pid in pids:
            if not gone(pid):
                os.kill(pid, 9)
    assert took < 8


def test_missing_executable_is_a_tool_error() -> None:
    async def go() -> None:
        await Child(["/no/such/perflab-tool", "--x"]).start()

    with pytest.raises(ToolError, match="cannot run /no/such/perflab-tool: command not found"):
        asyncio.run(go())


def test_not_executable_and_bad_cwd_are_tool_errors(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)

    async def go(argv: list[str], cwd: Path | None = None) -> None:
        await Child(argv, cwd=cwd).start()

    if os.geteuid() != 0:  # root may execute anything
        with pytest.raises(ToolError, match="permission denied"):
            asyncio.run(go([str(script)]))
    with pytest.raises(ToolError):
        asyncio.run(go([sys.executable, "-c", "pass"], cwd=tmp_path / "missing"))


def test_shell_strings_are_refused() -> None:
    with pytest.raises(TypeError):
        Child("echo hi")  # type: ignore[arg-type]


def test_overlong_line_is_split_not_fatal() -> None:
    lines: list[str] = []

    async def go() -> int:
        child = await Child(py("print('y' * 200_000); print('after')"),
                            on_line=lambda s, line: lines.append(line)).start()
        return await child.wait(timeout=20)

    assert asyncio.run(go()) == 0
    assert lines[-1] == "after"
    assert sum(len(x) for x in lines[:-1]) >= 100_000


def test_orphan_left_behind_by_an_exited_child_is_stopped(tmp_path: Path) -> None:
    """The child exits at once; its grandchild (same group, scrubbed environment, ignores SIGTERM) lives on."""
    pids_file = tmp_path / "pids"

    async def go() -> list[int]:
        child = await Child(py(f"""
            import subprocess, sys
            p = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                  "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
                                 env={{}}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            open({str(pids_file)!r}, "w").write(str(p.pid))
        """)).start()
        assert await child.wait(timeout=20) == 0
        pids = await read_pids(pids_file, 1)
        assert not gone(pids[0])  # the orphan outlived its parent
        await child.stop(interrupt_grace=0.3, term_grace=0.3)
        return pids

    pids = asyncio.run(go())
    try:
        assert wait_gone(pids)
    finally:
        for pid in pids:
            if not gone(pid):
                os.kill(pid, 9)


def test_output_arrives_in_blocks_of_whole_lines() -> None:
    """Lines cut across writes (and so across reads) are put back together; CRLF and a last line without a
    newline are handled; the tails keep the last lines for error messages."""
    blocks: list[tuple[str, bytes]] = []

    async def go() -> Child:
        child = await Child(py("""
            import os, sys, time
            os.write(1, b"fir")
            time.sleep(0.05)
            os.write(1, b"st\\nsec")
            time.sleep(0.05)
            os.write(1, b"ond\\r\\nthird\\n")
            os.write(2, b"oops\\n")
            os.write(1, b"no newline")
        """), on_output=lambda stream, block: blocks.append((stream, block))).start()
        await child.wait(timeout=20)
        return child

    child = asyncio.run(go())
    out = b"\n".join(b for s, b in blocks if s == "stdout").split(b"\n")
    assert out == [b"first", b"second\r", b"third", b"no newline"]
    assert [b for s, b in blocks if s == "stderr"] == [b"oops"]
    assert list(child.stdout_tail) == ["first", "second", "third", "no newline"]
    assert list(child.stderr_tail) == ["oops"]


def test_a_chatty_child_is_drained_in_large_blocks() -> None:
    """20 MB in 100-byte lines: all of it arrives, in far fewer callbacks than lines."""
    blocks: list[int] = []
    lines = [0]

    def on_output(stream: str, block: bytes) -> None:
        blocks.append(len(block))
        lines[0] += block.count(b"\n") + 1

    async def go() -> int:
        child = await Child(py("""
            import sys
            block = ("y" * 99 + "\\n") * 10_000
            for _ in range(20):
                sys.stdout.write(block)
        """), on_output=on_output).start()
        return await child.wait(timeout=60)

    assert asyncio.run(go()) == 0
    assert lines[0] == 200_000
    assert len(blocks) < 2_000, f"{len(blocks)} callbacks for 200,000 lines"


def test_hard_stop_skips_sigint() -> None:
    async def go() -> Child:
        child = await Child(py("import time; time.sleep(60)")).start()
        await asyncio.sleep(0.2)
        await child.stop(interrupt_grace=0, term_grace=0.3)
        return child

    child = asyncio.run(go())
    assert child.signals_sent == ["SIGTERM"]
    assert gone(child.pid)


DRIVER = """
import asyncio, os, sys, time
from perflab.runners.framework.process import Child, python_argv

async def main():
    child = await Child(python_argv("-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                    "time.sleep(60)")).start()
    print(child.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_child_dies_when_perflab_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the supervising process: its child (which ignores SIGTERM) does not outlive it."""
    import subprocess

    env = {**os.environ, "PERFLAB_RUNTIME_DIR": str(tmp_path / "run")}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, env=env)
    pid = -1
    try:
        assert driver.stdout is not None
        pid = int(driver.stdout.readline())
        assert not gone(pid)
        driver.kill()
        driver.wait(timeout=10)
        assert wait_gone([pid], timeout=2.0)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        with contextlib.suppress(ProcessLookupError):
            if pid > 0 and not gone(pid):
                os.kill(pid, 9)
