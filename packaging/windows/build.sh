#!/usr/bin/env bash
# Cross-build daiban for x86_64 Windows and run its Windows tests under
# Wine: one command (docs/windows.md).
#
#   packaging/windows/build.sh [--no-test]
#
# Installs the cross toolchain and Wine when missing (Debian's
# gcc-mingw-w64-x86-64, libz-mingw-w64-dev, wine64, cmake, nsis), builds
# the libraries from Debian's sources (deps.sh, cached in build-win/deps),
# then daiban in build-win/meson and its installer
# (build-win/daiban-station-setup-VERSION.exe, installer.nsi), and runs
# `meson test` there, each test under wine64. Closes with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-win
cd "$root"

need=()
for p in gcc-mingw-w64-x86-64 libz-mingw-w64-dev wine wine64 cmake nsis autoconf automake libtool tclsh; do
        case $p in tclsh) dpkg -s tcl >/dev/null 2>&1 || need+=(tcl) ;;
                   *) dpkg -s "$p" >/dev/null 2>&1 || need+=("$p") ;;
        esac
done
if [ ${#need[@]} -gt 0 ]; then
        echo "[windows] installing ${need[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
                || { echo "apt-get install ${need[*]} failed"; echo "0 passed, 1 failed"; exit 1; }
fi

"$here/deps.sh" "$build" || { echo "[windows] the libraries did not build"; echo "0 passed, 1 failed"; exit 1; }

export PKG_CONFIG_LIBDIR="$build/deps/lib/pkgconfig:/usr/x86_64-w64-mingw32/lib/pkgconfig"
# a Wine prefix of our own, made once, quietly
export WINEPREFIX="$build/wine" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$build/meson/build.ninja" ]; then
        meson setup "$build/meson" --cross-file "$here/cross.ini" -Dbuildtype=release \
                >"$build/meson.setup.log" 2>&1 || { cat "$build/meson.setup.log"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build/meson" >"$build/meson.build.log" 2>&1 \
        || { tail -n 60 "$build/meson.build.log"; echo "0 passed, 1 failed"; exit 1; }
# the installer (installer.nsi): daiban.exe, the service, the shortcuts
version=$(meson introspect --projectinfo "$build/meson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
export DAIBAN_SETUP="$build/daiban-station-setup-$version.exe"
makensis -V2 -DVERSION="$version" -DEXE="$build/meson/agent/daiban.exe" -DOUTFILE="$DAIBAN_SETUP" \
        "$here/installer.nsi" >"$build/installer.log" 2>&1 \
        || { cat "$build/installer.log"; echo "0 passed, 1 failed"; exit 1; }
echo "[windows] $(basename "$DAIBAN_SETUP"): $(( $(stat -c %s "$DAIBAN_SETUP") / 1024 )) KiB"
[ "${1:-}" = "--no-test" ] && exit 0

[ -d "$WINEPREFIX" ] || wineboot -i >/dev/null 2>&1
# the Windows station is tested against the Linux build (tests/windows/wine.py)
# and killed by its crash-point shim (tests/windows/meson.build)
if [ ! -x "$root/build/agent/daiban" ] || [ ! -f "$root/build/tests/libcrashpoint.so" ]; then
        { [ -f "$root/build/build.ninja" ] || meson setup "$root/build" >/dev/null; } &&
                ninja -C "$root/build" agent/daiban tests/libcrashpoint.so >/dev/null ||
                { echo "[windows] the Linux daiban did not build"; echo "0 passed, 1 failed"; exit 1; }
fi
export DAIBAN_LINUX="$root/build/agent/daiban" DAIBAN="$root/build/agent/daiban" \
        CRASHPOINT="$root/build/tests/libcrashpoint.so" DAIBAN_TEST_DATA="$root/tests/data"
# The shared prefix's Wine server and Wine's own services (services.exe,
# winedevice.exe...) up before the tests, with no pipe of theirs: a cold
# start inside a test made them inherit its output pipes, and the test
# then waited for their exit (a 120 s hang, seen in kill9-serve)
wineserver -p 1800 </dev/null >/dev/null 2>&1
wine cmd /c exit </dev/null >/dev/null 2>&1 || true
rm -f "$build/meson/meson-logs/testlog.json"
expected=$(meson test -C "$build/meson" --list 2>/dev/null | grep -v '^ninja:' | grep -c .)
meson test -C "$build/meson" --print-errorlogs --num-processes 2
read -r p f s <<<"$(python3 "$root/packaging/count-tests.py" "$build/meson/meson-logs/testlog.json" "$expected")"
f=$((f + s))     # a skip is a failure here too
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
