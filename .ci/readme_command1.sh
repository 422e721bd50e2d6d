#!/usr/bin/env bash
# Run the README's command 1 (install, the sort profile headless, then the app) in the virtualenv $1, inside
# tmux so that the app gets a real terminal; wait for the app's home screen, quit it with its own key, and
# fail unless the whole command exited 0.
set -euo pipefail
VENV="$1"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CMD="$(python3 "$REPO/.ci/readme_command.py" 1)"
OUT="$(mktemp -d)"
echo "README command 1: $CMD"
cat > "$OUT/cmd.sh" <<SCRIPT
while [ ! -f "$OUT/go" ]; do sleep 0.1; done
cd "$REPO"
source "$VENV/bin/activate"
$CMD
echo \$? > "$OUT/rc"
SCRIPT
SESSION="perflab-ci-$$"
tmux new-session -d -s "$SESSION" -x 120 -y 40 "bash $OUT/cmd.sh; sleep 5"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true' EXIT
tmux pipe-pane -t "$SESSION" -o "cat >> $OUT/log"
touch "$OUT/go"
# Up to 10 minutes for the install and the sort profile, then the app must draw its home screen.
for _ in $(seq 1 1200); do
    [ -f "$OUT/rc" ] && break
    if tmux capture-pane -p -t "$SESSION" 2>/dev/null | grep -q "sort.*benchmark" \
        && tmux capture-pane -p -t "$SESSION" | grep -q "Quit"; then
        sleep 1
        tmux capture-pane -p -t "$SESSION" > "$OUT/screen"
        tmux send-keys -t "$SESSION" q
        break
    fi
    sleep 0.5
done
for _ in $(seq 1 120); do [ -f "$OUT/rc" ] && break; sleep 0.5; done
# What the headless run printed (terminal escapes removed); the app's own frames are shown below.
sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[()][A-Z0-9]//g; s/\r//g' "$OUT/log" | grep -a -v "^WARNING: Location" \
    | grep -a -E "^sort|^session|Successfully installed|[Ee]rror" | head -40 || true
if [ ! -f "$OUT/screen" ]; then
    echo "README command 1: the app's home screen never appeared"
    tmux capture-pane -p -t "$SESSION" || true
    exit 1
fi
echo "--- the app's home screen:"
cat "$OUT/screen"
RC="$(cat "$OUT/rc" 2>/dev/null || echo missing)"
echo "README command 1 exited $RC"
[ "$RC" = 0 ]
