"""One verdict everywhere: what headless prints, its exit code, the stored session row, the replayed final event
and the app's run path agree, for a pass, a threshold failure, a regression-gate failure and an error.

The runs are real pytest-benchmark runs of the demo sort. The gate failure is made certain, not likely: the
profile gates at a 100 % tolerance and the slow run is 20x slower (PERFLAB_DEMO_SLOWDOWN=19), as in
test_gates.py.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from perflab.core import profiles
from perflab.core.model import Event, Finished, Notice, Status
from perflab.store.sessions import SessionStore
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

PROFILE = """\
name = "agree"
tolerance = "100%"
thresholds = ["{threshold}"]

[gate]
max_cv = 10

[target]
callable = "{callable}"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [10_000]
processes = 3
max_time = "0.03s"
warmup_iterations = 3
"""


def _profile(root: Path, name: str, *, threshold: str = "median < 1s",
             target: str = "perflab.demo.sorting:counting_sort") -> str:
    (root / f"{name}.toml").write_text(PROFILE.format(threshold=threshold, callable=target).replace(
        'name = "agree"', f'name = "{name}"'))
    return f"{name}.toml"


def _agree(root: Path, env: dict[str, str], *args: str, status: Status, code: int) -> None:
    r = run_cli("--headless", *args, "--baseline-dir", "bl", cwd=root, env=env)
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    printed = re.findall(r"^(\S+): (PASSED|FAILED|ERROR|INTERRUPTED)\b", r.stdout, re.M)
    assert len(printed) == 1 and printed[0][1] == status.value.upper(), r.stdout
    sid = re.findall(r"^session (\S+)$", r.stdout, re.M)[-1]
    with SessionStore(Path(env["PERFLAB_STORE"]), readonly=True) as st:
        row = st.get(sid)
        finals = [e for e in st.other_events(sid) if isinstance(e, Finished)]
    assert row.status == status and row.exit_code == code
    assert row.result is not None and row.result.status == status
    assert len(finals) == 1 and finals[0].status == status
    replay = run_cli("replay", sid, "--headless", cwd=root, env=env)
    assert replay.returncode == 0, replay.stderr
    assert re.search(rf"finished: {status.value}\b", replay.stdout), replay.stdout
    assert f"{row.profile}: {status.value.upper()}" in replay.stdout


@pytest.fixture()
def root(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, {"PERFLAB_STORE": str(tmp_path / "store"), "PERFLAB_DEMO_SLOWDOWN": ""}


def test_pass(root: tuple[Path, dict[str, str]]) -> None:
    folder, env = root
    _agree(folder, env, _profile(folder, "ok"), status=Status.PASSED, code=0)


def test_threshold_failure(root: tuple[Path, dict[str, str]]) -> None:
    folder, env = root
    _agree(folder, env, _profile(folder, "tight", threshold="median < 1ns"), status=Status.FAILED, code=1)


def test_error(root: tuple[Path, dict[str, str]]) -> None:
    folder, env = root
    _agree(folder, env, _profile(folder, "broken", target="perflab.demo.sorting:no_such_function"),
           status=Status.ERROR, code=3)


def test_gate_failure_headless_and_app_path(root: tuple[Path, dict[str, str]],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder, env = root
    name = _profile(folder, "gated")
    _agree(folder, env, name, "--save-baseline", status=Status.PASSED, code=0)
    assert (folder / "bl" / "gated.json").exists()
    slow = {**env, "PERFLAB_DEMO_SLOWDOWN": "19"}
    _agree(folder, slow, name, status=Status.FAILED, code=1)

    # The app's path (lab.session.run_session with its default plan: judge against the profile's baseline)
    # ends the same way, and its sinks see the gate's notice before the Finished event.
    from perflab.lab import session as lab

    monkeypatch.chdir(folder)
    monkeypatch.setenv("PERFLAB_BASELINES", str(folder / "bl"))
    monkeypatch.setenv("PERFLAB_DEMO_SLOWDOWN", "19")
    seen: list[Event] = []

    class Collect:
        def handle(self, event: Event) -> None:
            seen.append(event)

    outcome = asyncio.run(lab.run_session(profiles.load(folder / name), folder / "store", [Collect()]))
    assert outcome.result.status == Status.FAILED and int(outcome.exit_code) == 1
    assert outcome.comparison is not None and outcome.comparison.failed
    finals = [i for i, e in enumerate(seen) if isinstance(e, Finished)]
    gate = [i for i, e in enumerate(seen) if isinstance(e, Notice) and e.code == "baseline.compare"
            and e.message.startswith("regression gate failed")]
    assert len(finals) == 1 and seen[finals[0]].status == Status.FAILED  # type: ignore[attr-defined]
    assert gate and gate[0] < finals[0]
    with SessionStore(folder / "store", readonly=True) as st:
        row = st.get(outcome.session_id)
    assert row.status == Status.FAILED and row.exit_code == 1


def test_an_output_file_that_cannot_be_written_is_one_line_and_exit_3(root: tuple[Path, dict[str, str]]) -> None:
    """The run is stored as it ended; only the requested file is missing, and that is said, never swallowed."""
    folder, env = root
    bad = folder / "not-a-folder"
    bad.write_text("a file where a folder is needed\n")
    r = run_cli("--headless", _profile(folder, "out"), "--json", str(bad / "out.json"), cwd=folder, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "could not be written" in lines[0] and "out.json" in lines[0], r.stderr
    sid = re.findall(r"^session (\S+)$", r.stdout, re.M)[-1]
    with SessionStore(Path(env["PERFLAB_STORE"]), readonly=True) as st:
        assert st.get(sid).status == Status.PASSED
