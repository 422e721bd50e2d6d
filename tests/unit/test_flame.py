"""runners.framework.flame: folded stacks from py-spy, including the garbled ones nonblocking sampling can
produce."""

from __future__ import annotations

import xml.dom.minidom
from collections import Counter
from pathlib import Path

from perflab.runners.framework import flame

GOOD = ("main (app.py:10)", "checksum (busy.py:22)")
# what a nonblocking read of a frame that was changing looked like in a real run (NULs in the name)
GARBLED = ("main (app.py:10)", "\x00\x00\x00\x00 (_compression.py:33)")
UNDECODABLE = ("main (app.py:10)", "f\ufffd\ufffd (x.py:1)")  # invalid UTF-8, read with errors="replace"


def test_parse_and_drop_garbled_samples() -> None:
    text = "main (app.py:10);checksum (busy.py:22) 7\nmain (app.py:10);\x00\x00\x00\x00 (_compression.py:33) 2\n"
    stacks = flame.parse_folded(text + "main (app.py:10);f\ufffd\ufffd (x.py:1) 1\ncut short")
    assert stacks == Counter({GOOD: 7, GARBLED: 2, UNDECODABLE: 1})
    clean, dropped = flame.drop_garbled(stacks)
    assert clean == Counter({GOOD: 7}) and dropped == 3
    assert flame.top_functions(clean)[0].function == "checksum"


def test_svg_is_well_formed_whatever_the_frame_names(tmp_path: Path) -> None:
    path = tmp_path / "f.svg"
    flame.write_svg(Counter({GOOD: 5, GARBLED: 1, ("<&>\x1b[0m (a.py:1)",): 1}), path, "t\x00itle <x>")
    doc = xml.dom.minidom.parse(str(path))  # an expat error here means a browser would refuse the file too
    titles = [t.firstChild.data for t in doc.getElementsByTagName("title") if t.firstChild]
    assert any(t.startswith("checksum (busy.py:22)") for t in titles)
    assert any("<&>\ufffd[0m" in t for t in titles)
