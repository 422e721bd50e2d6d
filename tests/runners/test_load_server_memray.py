"""A load run's server under memray (``profile_memory``): memray's capture is written from the server's own
process, and those writes are left out of the server's bottleneck label, while the server's own I/O would count.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from perflab.core.bottleneck import IO_RATE, Bottleneck
from perflab.core.model import Status
from tests.runners.profiling_helpers import run_profile

pytestmark = pytest.mark.slow

# Every request makes 5,000 allocations of 2 KiB (above pymalloc's limit, so memray records each one): at a
# few dozen requests/s memray writes megabytes of capture per second from the server's process.
SERVER = '''
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        junk = [bytearray(2048) for _ in range(5000)]
        time.sleep(0.002)
        body = str(len(junk)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def test_memray_capture_writes_are_not_the_servers_io(tmp_path: Path) -> None:
    profile = textwrap.dedent(f"""
        name = "served-under-memray"
        timeout = "90s"
        [serve]
        command = ["{sys.executable}", "alloc_server.py", "{{port}}"]
        [target]
        endpoints = [ {{ method = "GET", path = "/" }} ]
        [test]
        type = "load"
        users = 4
        duration = "3s"
        profile_memory = true
    """)
    # A first run reads the server's modules and memray's libraries into the page cache: in a fresh virtualenv
    # those cold reads are storage I/O of the server's own, enough for an I/O-bound label, and this test is about
    # memray's writes
    for where in (tmp_path / "warm", tmp_path / "measured"):
        where.mkdir()
        (where / "alloc_server.py").write_text(SERVER, encoding="utf-8")
        outcome, _ = run_profile(profile, where)
    r = outcome.result
    assert r.status is Status.PASSED, r.message
    mon = r.data["monitor"]["server"]
    capture = (where / "artifacts").rglob("server-memray.bin")
    written = r.data["profiler_io"]["server"]["write_bytes"]
    assert written >= max(p.stat().st_size for p in capture) > 0  # the capture (plus any compressed copy)
    # memray did write megabytes from the server's process, and they were nearly all the server's writes (how
    # many per second depends on how much CPU the server got on this machine: not asserted)
    assert mon["write_bytes"] >= 1024 * 1024, mon
    assert mon["write_bytes"] <= 1.2 * written, (mon, written)
    b = r.data["bottleneck"]["server"]
    counted = b["evidence"]["io_rate"] * mon["wall"]
    assert counted <= mon["read_bytes"] + 0.2 * mon["write_bytes"], (b["text"], mon)  # memray's writes are out
    # what is left of the writes is far below an I/O-bound rate (reads are the server's own, not bounded here)
    assert max(counted - mon["read_bytes"], 0) / mon["wall"] < IO_RATE / 4, (b["text"], mon)
    assert b["label"] != Bottleneck.IO.value, b["text"]
    assert "of storage writes not counted: memray's capture, written from the server's process" in b["text"]
