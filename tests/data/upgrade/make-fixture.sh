#!/usr/bin/env bash
# Make pre-signing.tar.gz: the homes of a county, a township and a village
# made by the release before signed change sets (commit c013c73), with
# unsigned change sets on their feeds. tests/integration/upgrade.py
# opens them with the current daiban.
#   git worktree add /tmp/oldrel c013c73 && (cd /tmp/oldrel && meson setup b && ninja -C b agent/daiban)
#   tests/data/upgrade/make-fixture.sh /tmp/oldrel/b/agent/daiban
set -euo pipefail
old=${1:?the old daiban binary}
here=$(cd "$(dirname "$0")" && pwd)
cat=$here/../catalog-sample
apps=$here/../apps
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
export DAIBAN_TODAY=2026-11-24 LANG=C.UTF-8
d() { DAIBAN_HOME="$w/$1" "$old" "${@:2}"; }
d county init --node 330225 --role county --catalog "$cat" >/dev/null
d township init --node 330225101 --role township --catalog "$cat" >/dev/null
d village init --node 330225101201 --role village --catalog "$cat" >/dev/null
for h in county township village; do DAIBAN_OPERATOR= d $h operator add op01 --name 王小红 >/dev/null; done
export DAIBAN_OPERATOR=op01
d township remote set "$w/county/repo" >/dev/null
d village remote set "$w/county/repo" >/dev/null
a=$(d village app new MZ-DB-001 --data "$apps/MZ-DB-001-valid.json")
for m in SFZ HKB HDSQ YHK SRZM; do d village app material "$a" $m provided; done
d village app submit "$a" >/dev/null
b=$(d village app new RS-YL-001 --data "$apps/RS-YL-001-valid.json")
d village sync >/dev/null
d township sync >/dev/null
d township review "$a" pass >/dev/null
d township sync >/dev/null
d county sync >/dev/null
d village sync >/dev/null
echo "$a $b" > "$w/apps.txt"
tar -C "$w" -czf "$here/pre-signing.tar.gz" county township village apps.txt
echo "wrote $here/pre-signing.tar.gz ($a passed at the township, $b a draft)"
