"""THE subprocess supervisor. Every child perflab starts goes through :class:`Child`.

- argv lists only, never a shell string;
- the child leads its own session and process group, so one signal reaches it and its children;
- stop = SIGINT, grace, SIGTERM, grace, SIGKILL of the whole group, plus any descendant that left the group
  (found by parentage, or, for one that daemonized away from its parent, by a token in its inherited
  environment, the way Jenkins' ProcessTreeKiller finds build processes);
- the child dies with perflab, even by SIGKILL: PR_SET_PDEATHSIG before exec, and the watchdog, subreaper and
  sweep of framework/reaper.py for what it starts in turn;
- stdout and stderr go to spool files (framework/spool.py) where perflab only collects the lines: the child
  writes at the page cache's speed whatever perflab's event loop is doing (a chatty target under perflab is
  measured against the same one into a pipe read by ``cat``: tests/performance/output_drain.py); children
  whose lines are awaited as they come (a server's readiness, ``on_line``) keep pipes, drained in large
  blocks. Complete lines go to ``on_output`` a block at a time (framework/output.py bounds what a session
  keeps), or to ``on_line`` one by one; the last lines of each stream are kept for error messages;
- a side channel (an inherited pipe, see runners/agents/wire.py) carries structured records to ``on_record``;
- the child's PATH starts with this interpreter's scripts folders (framework/tools.py), so a child, and what
  it starts, finds the same py-spy, memray, locust, pytest as perflab does, activated virtualenv or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from perflab.core.model import ToolError
from perflab.core.monitor import descendants
from perflab.runners.agents import lifeline, wire
from perflab.runners.framework import reaper, spool
from perflab.runners.framework.output import MAX_LINE, decode, pieces
from perflab.runners.framework.tools import child_path

LineHandler = Callable[[str, str], None]  # (stream, line)
OutputHandler = Callable[[str, bytes], None]  # (stream, complete lines joined by "\n", no final newline)
RecordHandler = Callable[[dict[str, Any]], None]

READ_CHUNK = 1 << 20  # bytes per read of stdout/stderr
PIPE_SIZE = 1 << 20  # asked for the stdout/stderr pipes (Linux F_SETPIPE_SZ; 64 KiB otherwise): fewer wake-ups
F_SETPIPE_SZ = 1031
TAIL_LINES = 40  # last lines of each stream kept for error messages
MAX_RECORD = 64 << 20  # a side-channel record can carry every round of a benchmark
ENV_TOKEN = "PERFLAB_SUPERVISOR_TOKEN"  # inherited by every descendant; marks the tree for the final sweep


def _token_holders(token: str) -> list[int]:
    """Pids (not ours) whose environment carries ``ENV_TOKEN=token`` (Linux; readable processes only)."""
    if not sys.platform.startswith("linux"):
        return []
    needle = f"{ENV_TOKEN}={token}".encode()
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle + b"\0" in env or env.endswith(needle):
            out.append(int(name))
    return out


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies, which no signal can end, don't count)."""
    if not sys.platform.startswith("linux"):
        return True
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
            f = data[data.rfind(b")") + 2:].split(b" ", 4)
            if int(f[2]) == pgid and f[0] not in (b"Z", b"X"):
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


_LIVE: weakref.WeakSet[Child] = weakref.WeakSet()  # every started Child: its pid is reaped by its own waiter


def started_pids() -> set[int]:
    """Pids of this process's supervised children not yet reaped (so not someone else's adopted orphan)."""
    return {c.proc.pid for c in list(_LIVE) if c.proc is not None and c.proc.returncode is None}


class Child:
    """One supervised child process (and its whole process tree)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        name: str = "target",
        on_line: LineHandler | None = None,
        on_output: OutputHandler | None = None,
        on_record: RecordHandler | None = None,
        side_channel: bool = True,
        stdin_devnull: bool = True,
        unbuffered: bool = False,
    ) -> None:
        if isinstance(argv, str):  # a shell string would be a bug, not a feature
            raise TypeError("argv must be a list of strings")
        self.argv = [str(a) for a in argv]
        self.cwd = cwd
        self.env = env
        self.name = name
        self.on_line = on_line
        self.on_output = on_output
        self.on_record = on_record
        self.side_channel = side_channel
        self.stdin_devnull = stdin_devnull
        self.unbuffered = unbuffered
        self.proc: asyncio.subprocess.Process | None = None
        self._tails: dict[str, deque[bytes]] = {"stdout": deque(maxlen=TAIL_LINES),
                                                 "stderr": deque(maxlen=TAIL_LINES)}
        self._carry = {"stdout": b"", "stderr": b""}  # an unfinished last line, per stream
        self.signals_sent: list[str] = []
        self._readers: list[asyncio.Future[None]] = []
        self._known: dict[int, float] = {}  # pid -> create_time of every descendant seen
        self._signalled: set[int] = set()  # descendants signalled one by one (orphans perflab may have adopted)
        self.finished = False  # stopped, and its whole tree verified gone
        self.token = os.urandom(8).hex()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "child not started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    @property
    def stdout_tail(self) -> deque[str]:
        """The last lines the child wrote to stdout."""
        return deque((decode(x) for x in self._tails["stdout"]), maxlen=TAIL_LINES)

    @property
    def stderr_tail(self) -> deque[str]:
        """The last lines the child wrote to stderr."""
        return deque((decode(x) for x in self._tails["stderr"]), maxlen=TAIL_LINES)

    async def start(self) -> Child:
        """Start the child; ToolError (one line) when it cannot be run."""
        env = dict(os.environ if self.env is None else self.env)
        if self.unbuffered:  # lines perflab must see as they are written (a server's readiness, a tool's log)
            env.setdefault("PYTHONUNBUFFERED", "1")
        # Otherwise Python's own buffering is kept: into a pipe, a print per write(2) (PYTHONUNBUFFERED) costs a
        # chatty target about 2x, a buffered one about nothing; its output then arrives in blocks, all of it.
        env["PATH"] = child_path(env.get("PATH"))
        env[ENV_TOKEN] = self.token
        r_fd = w_fd = -1
        pass_fds: tuple[int, ...] = ()
        if self.side_channel:
            r_fd, w_fd = os.pipe()
            env[wire.ENV_FD] = str(w_fd)
            pass_fds = (w_fd,)
        reaper.guard()  # the watchdog runs before the first child does
        loop = asyncio.get_running_loop()
        spools = self._spools()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Pipes(self, loop),
                *self.argv,
                cwd=self.cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL if self.stdin_devnull else None,
                stdout=spools["stdout"].fd if spools else asyncio.subprocess.PIPE,
                stderr=spools["stderr"].fd if spools else asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=pass_fds,
                preexec_fn=lifeline.preexec_hook(),
            )
            self.proc = asyncio.subprocess.Process(transport, protocol, loop)
        except FileNotFoundError:
            self._close_fds(r_fd, w_fd, *(x.fd for x in spools.values()))
            raise ToolError(f"cannot run {self.argv[0]}: command not found") from None
        except PermissionError:
            self._close_fds(r_fd, w_fd, *(x.fd for x in spools.values()))
            raise ToolError(f"cannot run {self.argv[0]}: permission denied") from None
        except NotADirectoryError:
            self._close_fds(r_fd, w_fd, *(x.fd for x in spools.values()))
            raise ToolError(f"cannot run {self.argv[0]}: working directory {self.cwd} is not a folder") from None
        if w_fd >= 0:
            os.close(w_fd)
        _LIVE.add(self)
        reaper.announce(self.token, self.proc.pid)
        if spools:
            self._readers.append(asyncio.create_task(self._pump(spools, protocol.exited)))
        else:
            self._readers.extend(asyncio.ensure_future(f) for f in protocol.ended.values())
        if r_fd >= 0:
            self._readers.append(asyncio.create_task(self._read_channel(r_fd)))
        return self

    def _spools(self) -> dict[str, spool.Spool]:
        """Files for stdout and stderr where the lines are only collected (a session's output), so that a
        chatty child never waits for perflab; {} keeps pipes: lines awaited as they come (a server's
        readiness, ``on_line``), or no spool possible here."""
        if self.on_output is None or self.unbuffered:
            return {}
        made = {name: spool.create() for name in ("stdout", "stderr")}
        if all(made.values()):
            return {name: s for name, s in made.items() if s is not None}
        for s in made.values():
            if s is not None:
                s.close()
        return {}

    async def _pump(self, spools: dict[str, spool.Spool], exited: asyncio.Event) -> None:
        try:
            await spool.pump(spools, self._receive, exited, self._tree_alive)
        finally:
            for name in spools:
                self._receive_end(name)

    @staticmethod
    def _close_fds(*fds: int) -> None:
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _receive(self, name: str, data: bytes) -> None:
        """A block as the pipe gave it: hand on its complete lines, keep the unfinished last one for later."""
        carry = self._carry[name]
        if carry:
            data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
        else:
            carry = data[cut + 1:]
            self._deliver(name, data[:cut])
        if len(carry) >= MAX_LINE:  # a line longer than that goes on in pieces (bounded memory)
            keep = len(carry) % MAX_LINE
            self._deliver(name, b"\n".join(pieces(carry[:len(carry) - keep])))
            carry = carry[len(carry) - keep:]
        self._carry[name] = carry

    def _receive_end(self, name: str) -> None:
        if self._carry[name]:
            carry, self._carry[name] = self._carry[name], b""
            self._deliver(name, carry)

    def _deliver(self, name: str, block: bytes) -> None:
        self._tails[name].extend(block.rsplit(b"\n", TAIL_LINES)[-TAIL_LINES:])
        if self.on_output is not None:
            self.on_output(name, block)
        elif self.on_line is not None:
            for line in block.split(b"\n"):
                for piece in pieces(line):
                    self.on_line(name, decode(piece))

    async def _read_channel(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_RECORD, loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while True:
                try:
                    raw = await reader.readline()
                except ValueError:
                    continue
                if not raw:
                    return
                record = wire.decode(raw)
                if record is not None and self.on_record is not None:
                    self.on_record(record)
        finally:
            transport.close()

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for exit and for all output to be read; on timeout, stop the tree and raise TimeoutError."""
        assert self.proc is not None
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise
        await self._drain()
        return self.proc.returncode if self.proc.returncode is not None else -1

    async def _drain(self, timeout: float = 5.0) -> None:
        # A grandchild that keeps our pipes open must not hang us: give readers a bounded time.
        if self._readers:
            _, pending = await asyncio.wait(self._readers, timeout=timeout)
            for task in pending:
                task.cancel()
            self._readers = [t for t in self._readers if not t.done()]

    def _remember_tree(self) -> None:
        if self.proc is None:
            return
        pids = set(_token_holders(self.token))
        if self.proc.returncode is None:  # once reaped, its pid may name someone else's process: don't follow it
            pids |= set(descendants(self.proc.pid))
        pids.discard(os.getpid())
        for pid in pids:
            if pid not in self._known:
                with contextlib.suppress(psutil.Error):
                    self._known[pid] = psutil.Process(pid).create_time()

    def _group_is_ours(self) -> bool:
        """Whether signalling process group ``pid`` reaches our tree and nobody else's.

        While the child is unreaped its pid (= the group id) cannot be reused. Once it is reaped, Linux still
        does not hand that number to a new process while our group has members; so if a live process holds
        the number now, the group is gone and the number is someone else's; if none does, any member of the
        group is one of ours (a grandchild that outlived the child).
        """
        assert self.proc is not None
        if self.proc.returncode is None:
            return True
        return not psutil.pid_exists(self.proc.pid)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.signals_sent.append(sig.name)
        group = self._group_is_ours()
        if group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
        # descendants that started their own session escaped the group: signal them one by one
        for pid, created in list(self._known.items()):
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created:
                    proc.send_signal(sig)
                    self._signalled.add(pid)
                    if sig != signal.SIGKILL:
                        proc.send_signal(signal.SIGCONT)
            except psutil.Error:
                self._known.pop(pid, None)
        if sig != signal.SIGKILL and group:
            # a stopped (SIGSTOP'd, ptrace-paused) process would sit on the signal forever
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGCONT)

    def _tree_alive(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is None:
            return True
        if self._group_is_ours():
            try:
                os.killpg(self.proc.pid, 0)
                if _group_alive(self.proc.pid):
                    return True
            except (ProcessLookupError, PermissionError):
                pass
        for pid, created in list(self._known.items()):
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    return True
            except psutil.Error:
                pass
            self._known.pop(pid, None)
        return False

    async def _wait_tree(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc is not None and self.proc.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.proc.wait()), 0.05)
            if not self._tree_alive():
                return True
            await asyncio.sleep(0.02)
        return not self._tree_alive()

    async def stop(self, *, interrupt_grace: float = 3.0, term_grace: float = 2.0) -> int | None:
        """Stop the child and everything it started: SIGINT, then SIGTERM, then SIGKILL.

        Each grace is how long (s) the tree gets to end after a signal; ``interrupt_grace <= 0`` skips SIGINT
        (a hard stop: SIGTERM, then SIGKILL after ``term_grace``).
        """
        if self.proc is None:
            return None
        self._remember_tree()
        for sig, grace in ((signal.SIGINT, interrupt_grace), (signal.SIGTERM, term_grace)):
            if sig == signal.SIGINT and grace <= 0:
                continue
            if not self._tree_alive():
                break
            self._signal_group(sig)
            if await self._wait_tree(grace):
                break
            self._remember_tree()
        if self._tree_alive():
            self._signal_group(signal.SIGKILL)
            await self._wait_tree(2.0)
        if self.proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 2.0)
        await self._drain(timeout=1.0)
        # an orphan re-parented to perflab (a subreaper) and killed here is perflab's zombie: collect it
        reaper.reap_zombies(self._signalled - started_pids())
        self.finished = self.proc.returncode is not None and not self._tree_alive()
        return self.proc.returncode

    def track(self) -> None:
        """Record the current descendants so a later stop reaches those that left the process group."""
        self._remember_tree()


class _Pipes(asyncio.SubprocessProtocol):
    """The child's stdout/stderr straight from the pipe to :meth:`Child._receive`, in the blocks read.

    No stream buffer in between: each read (up to READ_CHUNK bytes) is handed on as it is, and the pipe is read
    again as soon as it has data. (Resting a pipe after a read that emptied it, so that a fast writer fills it
    between wake-ups, measured slower for buffered and unbuffered writers alike: the writer then blocks on a
    full pipe.)
    """

    def __init__(self, child: Child, loop: asyncio.AbstractEventLoop) -> None:
        self.child, self.loop = child, loop
        self.stdin = self.stdout = self.stderr = None  # what asyncio.subprocess.Process reads off its protocol
        self.transport: asyncio.SubprocessTransport | None = None
        self.ended: dict[int, asyncio.Future[None]] = {1: loop.create_future(), 2: loop.create_future()}
        self.exited = asyncio.Event()  # the child itself has ended (its output may still be read)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport
        for fd in (1, 2):
            pipe = transport.get_pipe_transport(fd)
            if pipe is None:
                continue
            if hasattr(pipe, "max_size"):
                pipe.max_size = READ_CHUNK
            handle = pipe.get_extra_info("pipe")
            if handle is not None:
                with contextlib.suppress(OSError, ValueError):
                    fcntl.fcntl(handle.fileno(), F_SETPIPE_SZ, PIPE_SIZE)

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        self.child._receive("stdout" if fd == 1 else "stderr", bytes(data))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd in self.ended and not self.ended[fd].done():
            self.child._receive_end("stdout" if fd == 1 else "stderr")
            self.ended[fd].set_result(None)

    def process_exited(self) -> None:
        self.exited.set()


def python_argv(*args: str) -> list[str]:
    """argv for running this interpreter, e.g. ``python_argv("-m", "pytest")``."""
    return [sys.executable, *args]


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def project_root() -> Path:
    return Path.cwd()
