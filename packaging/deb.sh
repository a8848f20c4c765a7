#!/usr/bin/env bash
# Make the Debian package: packaging/deb.sh [OUTDIR]
#
# Copies the committed tree (git archive HEAD, or the working tree when
# it is not a git checkout) to a scratch folder, puts packaging/debian at
# its top as debian/, builds the binary package with dpkg-buildpackage
# and checks it with lintian. The .deb lands in OUTDIR (default
# build-deb/). Needs debhelper, lintian and the build dependencies
# (packaging/install-deps.sh installs them all).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$here/build-deb}" && cd "${1:-$here/build-deb}" && pwd)"
version="$(sed -n "s/^  version : '\([^']*\)'.*/\1/p" "$here/meson.build")"
changelog="$(sed -n '1s/^daiban (\([^)]*\)).*/\1/p' "$here/packaging/debian/changelog")"
if [ "$version" != "$changelog" ]; then
  echo "deb.sh: meson.build says version $version, packaging/debian/changelog says $changelog:" \
       "add a changelog entry for $version" >&2
  exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
src="$scratch/daiban-$version"
mkdir -p "$src"
if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
  if [ -n "$(git -C "$here" status --porcelain --untracked-files=no)" ]; then
    echo "deb.sh: note: uncommitted changes are not in the package (it is made from HEAD)" >&2
  fi
  git -C "$here" archive HEAD | tar -x -C "$src"
else
  tar -C "$here" --exclude='./build*' -cf - . | tar -x -C "$src"
fi
cp -r "$src/packaging/debian" "$src/debian"

echo "deb.sh: building daiban $version in $src" >&2
(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign -j"$(nproc)") > "$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2
  echo "deb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
deb="$(ls "$scratch"/daiban_"$version"_*.deb)"
cp "$deb" "$out/"
deb="$out/$(basename "$deb")"

# lintian: no error or warning may remain (there are no overrides; one
# added later goes in packaging/debian/daiban.lintian-overrides with
# its reason)
if ! lintian --fail-on error,warning --info "$deb" > "$out/lintian.log" 2>&1; then
  cat "$out/lintian.log" >&2
  echo "deb.sh: lintian found problems (above)" >&2
  exit 1
fi
cat "$out/lintian.log" >&2
echo "$deb"
