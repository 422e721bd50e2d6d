"""How much a chatty target is slowed by running under perflab: 50 MB printed, side by side with running alone.

The target prints ``--mb`` MB in ``--line``-byte lines (one ``print`` each) and writes its own elapsed time to a
file, so only its printing is timed, not interpreter start-up or perflab's. Each round runs, in turn:

- ``devnull``: alone, stdout to /dev/null (no reader at all: the floor no pipe can reach);
- ``pipe``: alone, stdout and stderr into a pipe drained by ``cat`` (the same work perflab's reading has to do);
- ``file``: alone, stdout and stderr into a file in the temporary folder (where perflab's spool files go);
- ``perflab``: as a script target of a ``--type`` profile through ``perflab --headless`` (default: cpu);
- ``quiet``: the same run under perflab with the target printing into /dev/null itself: what running under
  perflab (profiler and monitor included) costs the target without any output.

Every process of the alone arms starts in a new session, as perflab starts a target: with Linux's scheduler
autogroups a new session is a new group with its own fair share of the CPU, which on a busy machine would
otherwise favour the arm under perflab. Every arm runs with the environment a user's shell has, less ``PYTHONUNBUFFERED`` (which makes every ``print``
a write system call: into any pipe that alone costs a chatty writer about 2x).

Ratios are taken per round (the arms ran seconds apart on the same machine) and their median reported, with the
store's size per session and the truncation note. Run: ``python tests/performance/output_drain.py --rounds 7``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

TARGET = """
import sys, time
out, mb, width, linger = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
if sys.argv[5:] == ["quiet"]:  # the same prints, into /dev/null: what running under perflab costs without output
    sys.stdout = open("/dev/null", "w")
line = "x" * (width - 1)
t = time.perf_counter()
for _ in range(int(mb * 1e6 / width)):
    print(line)
sys.stdout.flush()
open(out, "w").write(repr(time.perf_counter() - t))
end = time.perf_counter() + linger
while time.perf_counter() < end:  # a profiler needs a second of the target's own code to sample; not timed
    pass
"""


def _took(path: Path) -> float:
    return float(path.read_text())


def alone(folder: Path, mb: float, width: int, how: str) -> float:
    script, out = folder / "chatty.py", folder / f"took-{how}"
    argv = [sys.executable, str(script), str(out), str(mb), str(width), "0"]
    if how == "devnull":
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120,
                       start_new_session=True)
    elif how == "file":
        with tempfile.TemporaryFile() as sink:
            subprocess.run(argv, stdout=sink, stderr=sink, check=True, timeout=120, start_new_session=True)
    else:
        reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
        subprocess.run(argv, stdout=reader.stdin, stderr=reader.stdin, check=True, timeout=120,
                       start_new_session=True)
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(timeout=60)
    return _took(out)


def under_perflab(folder: Path, mb: float, width: int, test_type: str, n: int, quiet: bool = False) -> dict[str, Any]:
    out = folder / ("took-quiet" if quiet else "took-perflab")
    store = folder / f"store-{n}{'-quiet' if quiet else ''}"
    prof = folder / f"chatty-{test_type}.toml"
    prof.write_text(textwrap.dedent(f"""
        name = "chatty"
        timeout = "2m"
        [target]
        script = "chatty.py"
        args = ["{out}", "{mb}", "{width}", "1.0"{', "quiet"' if quiet else ''}]
        [test]
        type = "{test_type}"
    """), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH")) if x)}
    res = subprocess.run([sys.executable, "-m", "perflab", "--headless", str(prof), "--store", str(store), "-q",
                          "--json", str(folder / "out.json")], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=300)
    doc = json.loads((folder / "out.json").read_text()) if (folder / "out.json").exists() else {}
    result = (doc.get("runs") or [{}])[0].get("result", {})
    notes = [n["text"] for n in result.get("notes", []) if "log lines" in n["text"]]
    size = sum(p.stat().st_size for p in store.glob("perflab.db*"))
    return {"took": _took(out), "exit": res.returncode, "store_bytes": size, "note": notes[0] if notes else ""}


def measure(rounds: int = 5, mb: float = 50.0, width: int = 1000, test_type: str = "cpu") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="perflab-drain-") as tmp:
        folder = Path(tmp)
        (folder / "chatty.py").write_text(TARGET, encoding="utf-8")
        rows = []
        for n in range(rounds):
            row: dict[str, Any] = {"devnull": alone(folder, mb, width, "devnull"),
                                   "pipe": alone(folder, mb, width, "pipe"),
                                   "file": alone(folder, mb, width, "file")}
            row.update(under_perflab(folder, mb, width, test_type, n))
            row["quiet"] = under_perflab(folder, mb, width, test_type, n, quiet=True)["took"]
            rows.append(row)
    med = {k: statistics.median(r[k] for r in rows) for k in ("devnull", "pipe", "file", "took", "quiet", "store_bytes")}
    return {"rounds": rows, "median": med,
            "ratio_vs_pipe": statistics.median(r["took"] / r["pipe"] for r in rows),
            "ratio_vs_devnull": statistics.median(r["took"] / r["devnull"] for r in rows),
            "ratio_vs_file": statistics.median(r["took"] / r["file"] for r in rows),
            "quiet_vs_devnull": statistics.median(r["quiet"] / r["devnull"] for r in rows),
            "note": rows[-1]["note"], "mb": mb, "width": width, "type": test_type}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--line", type=int, default=1000, help="bytes per line, newline included")
    ap.add_argument("--type", default="cpu", help="the profile's test type (cpu or memory: script targets)")
    ap.add_argument("--unbuffered", action="store_true", help="keep PYTHONUNBUFFERED=1 for every arm")
    a = ap.parse_args()
    if a.unbuffered:
        os.environ["PYTHONUNBUFFERED"] = "1"
    else:
        os.environ.pop("PYTHONUNBUFFERED", None)
    res = measure(a.rounds, a.mb, a.line, a.type)
    for r in res["rounds"]:
        print(f"devnull {r['devnull']:.3f} s  pipe {r['pipe']:.3f} s  file {r['file']:.3f} s  perflab {r['took']:.3f} s  "
              f"perflab quiet {r['quiet']:.3f} s  "
              f"(exit {r['exit']}, store {r['store_bytes'] / 1e6:.1f} MB)")
    m = res["median"]
    print(f"{res['mb']:g} MB in {res['width']}-byte lines, {res['type']} profile, median of {len(res['rounds'])}: "
          f"alone {m['devnull']:.3f} s to /dev/null, {m['pipe']:.3f} s to a pipe, {m['file']:.3f} s to a file; "
          f"under perflab {m['took']:.3f} s: {res['ratio_vs_pipe']:.2f}x the pipe, {res['ratio_vs_file']:.2f}x the "
          f"file, {res['ratio_vs_devnull']:.2f}x /dev/null (printing into /dev/null under perflab: "
          f"{res['quiet_vs_devnull']:.2f}x); store {m['store_bytes'] / 1e6:.1f} MB")
    print(res["note"])


if __name__ == "__main__":
    main()
