"""``perflab sessions`` and ``perflab show SESSION``: stored sessions, as tables and text or (``as_json``) as one
JSON document on stdout (perflab.report.documents)."""

from __future__ import annotations

from rich.markup import escape

from perflab.report.console import make_console, print_result, sessions_table
from perflab.store.sessions import SessionStore, default_root


def cmd_sessions(store_dir: str | None, *, profile: str | None = None, test_type: str | None = None,
                 status: str | None = None, limit: int = 50, as_json: bool = False) -> int:
    root = default_root(store_dir)
    with SessionStore(root, readonly=True) as store:
        rows = store.sessions(profile=profile, test_type=test_type, status=status, limit=limit)
    if as_json:
        from perflab.report import documents

        documents.write(documents.sessions_document(rows, root))
        return 0
    console = make_console()
    if not rows:
        console.print("no sessions stored")
        return 0
    console.print(sessions_table(rows))
    return 0


def cmd_show(store_dir: str | None, ref: str, *, logs: int = 20, as_json: bool = False) -> int:
    root = default_root(store_dir)
    with SessionStore(root, readonly=True) as store:
        row = store.get(ref)
        tail = store.logs(row.id, tail=logs)
        artifacts = store.artifacts(row.id)
    if as_json:
        from perflab.report import documents

        documents.write(documents.show_document(row, root, tail, artifacts))
        return 0
    console = make_console()
    console.print(sessions_table([row]))
    git = row.git or {}
    console.print(f"machine: {row.machine.get('cpu')} x{row.machine.get('cores')}, "
                  f"Python {row.machine.get('python')} ({row.machine.get('implementation')}), {row.machine.get('os')}")
    if git:
        console.print(f"git: {git.get('commit', '')[:12]}{' (dirty)' if git.get('dirty') else ''}")
    if row.result is not None:
        print_result(console, row.profile, row.result, row.id, row.duration)
    elif row.message:
        console.print(row.message)
    for a in artifacts:
        console.print(f"artifact ({a.kind}): {a.path}")
    if tail:
        console.print("[dim]last log lines:[/]")
        for line in tail:
            console.print(f"  [dim]{escape(line.source)}[/] {escape(line.line)}")
    return 0
