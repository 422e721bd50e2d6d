"""core.redact: every form a secret can take on its way out is replaced."""

from __future__ import annotations

import json
from pathlib import Path

from perflab.core import redact
from perflab.core.model import Level, Log, Note, Notice, Quantity, Result, Sample, Status, SummaryTable
from perflab.core.redact import MASK, Redactor, variants


def test_plain_json_and_percent_forms() -> None:
    r = Redactor(['tok"en/x y'])
    assert r.text('value tok"en/x y here') == f"value {MASK} here"
    assert r.text(json.dumps({"k": 'tok"en/x y'})) == json.dumps({"k": MASK})
    assert r.text("q=tok%22en%2Fx%20y") == f"q={MASK}"


def test_dsn_password_raw_decoded_and_userinfo() -> None:
    dsn = "postgresql://app:S3cr%zzet-pw@127.0.0.1:5432/db"
    r = Redactor([dsn])
    # the driver's error quotes the password alone, percent-escapes and all
    assert r.text('invalid percent-encoded token: "S3cr%zzet-pw"') == f'invalid percent-encoded token: "{MASK}"'
    enc = Redactor(["postgresql://app:p%40ss%21word@h/db"])
    assert enc.text("password p@ss!word was refused") == f"password {MASK} was refused"
    assert enc.text("auth p%40ss%21word") == f"auth {MASK}"
    assert "app:p%40ss%21word" in variants("postgresql://app:p%40ss%21word@h/db")
    # the user name alone stays (it is not a secret and would blank out ordinary words)
    assert r.text("user app, scheme postgresql://") == "user app, scheme postgresql://"
    assert r.text(dsn) == MASK
    no_password = Redactor(["postgresql://postgres@127.0.0.1:54329/perflab_test"])
    assert no_password.text("connected as postgres") == "connected as postgres"


def test_keyword_dsn_password() -> None:
    r = Redactor(["host=localhost user=app password=hunter2-long dbname=x"])
    assert r.text("FATAL: password hunter2-long rejected") == f"FATAL: password {MASK} rejected"


def test_empty_and_unset_values_redact_nothing() -> None:
    r = Redactor(["", ""])
    assert not r
    assert r.text("abc") == "abc"


def test_longest_form_first() -> None:
    r = Redactor(["abcd", "abcdefgh"])
    assert r.text("xabcdefghx") == f"x{MASK}x"


def test_nested_data_keys_and_values() -> None:
    r = Redactor(["sekret-1"])
    got = r.data({"a": ["x sekret-1", ("sekret-1",)], "sekret-1": 3, "n": 1.5})
    assert got == {"a": [f"x {MASK}", (MASK,)], MASK: 3, "n": 1.5}


def test_registry_result_and_events(monkeypatch: object) -> None:
    saved = redact.REGISTRY
    redact.REGISTRY = Redactor()
    try:
        redact.register_env(["PERFLAB_T_SECRET", "PERFLAB_T_UNSET"], {"PERFLAB_T_SECRET": "zz-top-secret"})
        res = Result(Status.ERROR, "ValueError: bad token zz-top-secret",
                     tables=(SummaryTable("t", ("a", "b"), (("zz-top-secret", Quantity(1.5, "s")),)),),
                     notes=(Note("zz-top-secret", Level.WARNING, "k"),),
                     data={"err": "zz-top-secret"})
        out = redact.result(res)
        assert "zz-top-secret" not in json.dumps([out.message, str(out.tables[0].rows), str(out.notes), out.data])
        assert out.tables[0].rows == ((MASK, Quantity(1.5, "s")),)  # only the text is touched
        assert out.notes == (Note(MASK, Level.WARNING, "k"),)
        assert out.status == Status.ERROR
        assert redact.event(Log(1.0, "x zz-top-secret", "stderr", "target")).line == f"x {MASK}"
        assert redact.event(Notice(1.0, Level.ERROR, "zz-top-secret", "c")).message == MASK
        s = Sample(1.0, "load.rps", 2.0, (("endpoint", "/a?t=zz-top-secret"),))
        assert redact.event(s).labels == (("endpoint", f"/a?t={MASK}"),)
        plain = Sample(1.0, "proc.cpu", 2.0)
        assert redact.event(plain) is plain
    finally:
        redact.REGISTRY = saved


def test_redact_tree_rewrites_text_files_only(tmp_path: Path) -> None:
    saved = redact.REGISTRY
    redact.REGISTRY = Redactor(["zz-top-secret"])
    try:
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "locust_stats.csv").write_text("name,error\n/a,401 for zz-top-secret\n")
        (tmp_path / "clean.txt").write_text("nothing here\n")
        (tmp_path / "capture.bin").write_bytes(b"\xff\xfe zz-top-secret \x00")
        changed = redact.redact_tree(tmp_path)
        assert changed == [str(tmp_path / "sub" / "locust_stats.csv")]
        assert (tmp_path / "sub" / "locust_stats.csv").read_text() == f"name,error\n/a,401 for {MASK}\n"
        assert b"zz-top-secret" in (tmp_path / "capture.bin").read_bytes()  # binary: not a text artifact
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["capture.bin", "clean.txt", "locust_stats.csv", "sub"]
    finally:
        redact.REGISTRY = saved
