#!/usr/bin/env bash
# An acceptance through the station daemon, today's build against a
# build of an older commit (default 0d0bc51, the last whose daemon wrote
# through `daiban app new` children), in one run: bench/serve-accept.py.
#
#   bench/serve-accept.sh [OLD_COMMIT] [N] [ROUNDS]
#
# Both are release builds (build-bench for today's; the old one in
# build-bench/old-<commit>, from a git worktree).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:-0d0bc51}; N=${2:-150}; ROUNDS=${3:-3}
[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench agent/daiban >/dev/null
W=build-bench/old-$OLD
if [ ! -x "$W/build/agent/daiban" ]; then
  rm -rf "$W"; mkdir -p "$W"
  git worktree add --detach "$W/src" "$OLD" >/dev/null 2>&1 || git -C "$W/src" checkout -q --detach "$OLD"
  meson setup "$W/build" "$W/src" --buildtype=release >/dev/null
  ninja -C "$W/build" agent/daiban >/dev/null
  git worktree remove --force "$W/src" || true
fi
python3 bench/serve-accept.py --daiban build-bench/agent/daiban --old "$W/build/agent/daiban" --n "$N" \
  --rounds "$ROUNDS" --json build-bench/serve-accept.json
