"""Print command N (1 or 2) of the README's opening code block, exactly as written there.

CI runs what this prints, so the README's two commands cannot drift from what is tested.
"""

import re
import sys
from pathlib import Path

n = sys.argv[1]
text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text(encoding="utf-8")
block = re.search(r"```bash\n(.*?)```", text, re.S)
if block is None:
    sys.exit("README.md: no ```bash block with the two commands")
lines = block.group(1).splitlines()
for i, line in enumerate(lines):
    if line.startswith(f"# {n}."):
        print(lines[i + 1].strip())
        break
else:
    sys.exit(f"README.md: no command '# {n}.' in the first bash block")
