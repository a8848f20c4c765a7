#!/usr/bin/env bash
# Build the libraries the Windows station links, for x86_64 Windows with
# Debian's mingw-w64, from Debian's own source packages: nothing prebuilt
# from anywhere else. Each library is fetched with `apt-get source`
# through a private apt configuration (a deb-src entry for Debian's
# archive, under BUILD/apt, leaving the machine's apt alone), built into
# BUILD/deps, and skipped next time when its stamp names the same version.
#
#   packaging/windows/deps.sh [BUILD]      (default: build-win)
#
# zlib comes from Debian's libz-mingw-w64-dev; HTTPS to the hall is
# libgit2's WinHTTP transport (docs/DESIGN.md, "The Windows station").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-$root/build-win}")
apt_dir=$build/apt
src=$build/src
prefix=$build/deps
host=x86_64-w64-mingw32
jobs=${JOBS:-2}
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src" "$prefix"/{lib,include,bin}

log() { printf '[deps] %s\n' "$*"; }

# --- the private apt configuration: Debian 12's sources ----------------------
cat >"$apt_dir/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o APT::Sandbox::User=root)
if [ ! -f "$apt_dir/updated" ] || [ -n "$(find "$apt_dir/updated" -mtime +7)" ]; then
        log "reading Debian's source index"
        apt-get "${apt_opts[@]}" -qq update
        touch "$apt_dir/updated"
fi

# versions PKG: the source versions of a Debian source package, newest first
versions() {
        apt-cache "${apt_opts[@]}" showsrc "$1" | awk '/^Version:/ {print $2}' | sort -Vru
}

# version PKG: the version fetch took (the newest one the archive serves:
# a security update's source may be on a mirror that carries no sources)
version() { cat "$src/.version-$1" 2>/dev/null || versions "$1" | head -n1; }

# fetch PKG: unpack PKG's Debian source (patches applied) under $src; prints its directory
fetch() {
        local pkg=$1 ver
        if [ ! -f "$src/.version-$pkg" ] || [ ! -d "$src/.unpacked-$pkg-$(version "$pkg")" ]; then
                rm -rf "$src/$pkg"-*/ "$src/.version-$pkg"
                for ver in $(versions "$pkg"); do
                        if (cd "$src" && apt-get "${apt_opts[@]}" -qq source "$pkg=$ver" >/dev/null 2>&1); then
                                echo "$ver" >"$src/.version-$pkg"
                                mkdir -p "$src/.unpacked-$pkg-$ver"
                                break
                        fi
                done
                [ -f "$src/.version-$pkg" ] || { echo "apt-get source $pkg: no version could be fetched" >&2; exit 1; }
        fi
        find "$src" -maxdepth 1 -type d -name "$pkg-*" | head -n1
}

# built PKG: true when a version of PKG the archive has is in the prefix already
built() {
        local ver
        for ver in $(versions "$1"); do
                [ -f "$prefix/.stamp-$1-$ver" ] && return 0
        done
        return 1
}
stamp() { touch "$prefix/.stamp-$1-$(version "$1")"; }

cmake_build() {         # DIR ARGS...: configure, build and install a CMake project
        local dir=$1; shift
        rm -rf "$dir/_win"
        cmake -S "$dir" -B "$dir/_win" -G Ninja \
                -DCMAKE_TOOLCHAIN_FILE="$here/toolchain.cmake" -DDEPS_PREFIX="$prefix" \
                -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release \
                -DCMAKE_PREFIX_PATH="$prefix" "$@" >"$dir/_win.log" 2>&1 \
                || { tail -n 30 "$dir/_win.log"; exit 1; }
        ninja -C "$dir/_win" -j "$jobs" install >>"$dir/_win.log" 2>&1 \
                || { tail -n 30 "$dir/_win.log"; exit 1; }
}

autotools_build() {     # DIR ARGS...: configure --host, make, make install
        local dir=$1; shift
        [ -x "$dir/configure" ] || (cd "$dir" && autoreconf -fi >_win.log 2>&1) \
                || { tail -n 30 "$dir/_win.log"; exit 1; }
        (cd "$dir" && ./configure --host=$host --prefix="$prefix" "$@" >_win.log 2>&1 \
                && make -j "$jobs" >>_win.log 2>&1 && make install >>_win.log 2>&1) \
                || { tail -n 30 "$dir/_win.log"; exit 1; }
}

# pcfile NAME VERSION LIBS: a pkg-config file for a library built by hand
pcfile() {
        mkdir -p "$prefix/lib/pkgconfig"
        printf 'prefix=%s\nName: %s\nDescription: %s for Windows\nVersion: %s\nLibs: -L${prefix}/lib %s\nCflags: -I${prefix}/include\n' \
                "$prefix" "$1" "$1" "$2" "$3" >"$prefix/lib/pkgconfig/$1.pc"
}

export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig:/usr/$host/lib/pkgconfig"
export PATH="$PATH"

# --- sqlite3: the amalgamation made by the source's own tools, compiled for Windows ---
if ! built sqlite3; then
        d=$(fetch sqlite3); log "sqlite3 $(version sqlite3)"
        (rm -rf "$d/_amalg" && mkdir "$d/_amalg" && cd "$d/_amalg" && ../configure >_amalg.log 2>&1 \
                && make sqlite3.c >>_amalg.log 2>&1) || { tail -n 30 "$d/_amalg/_amalg.log"; exit 1; }
        $host-gcc -O2 -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_OMIT_LOAD_EXTENSION \
                -c "$d/_amalg/sqlite3.c" -o "$d/_amalg/sqlite3.o"
        $host-ar rcs "$prefix/lib/libsqlite3.a" "$d/_amalg/sqlite3.o"
        cp "$d/_amalg/sqlite3.h" "$d/_amalg/sqlite3ext.h" "$prefix/include/"
        pcfile sqlite3 "$(version sqlite3 | sed 's/-.*//')" -lsqlite3
        stamp sqlite3
fi

# --- libuv ------------------------------------------------------------------------
if ! built libuv1; then
        d=$(fetch libuv1); log "libuv $(version libuv1)"
        cmake_build "$d" -DBUILD_TESTING=OFF -DLIBUV_BUILD_SHARED=OFF
        stamp libuv1
fi

# --- jansson ----------------------------------------------------------------------
if ! built jansson; then
        d=$(fetch jansson); log "jansson $(version jansson)"
        cmake_build "$d" -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_EXAMPLES=OFF \
                -DJANSSON_BUILD_SHARED_LIBS=OFF
        # daiban prints with mingw's C99 printf (__USE_MINGW_ANSI_STDIO),
        # which takes %lld and whose format checks refuse msvcrt's %I64d
        sed -i 's/"I64d"/"lld"/' "$prefix/include/jansson_config.h"
        stamp jansson
fi

# --- http-parser: one file ---------------------------------------------------------
if ! built http-parser; then
        d=$(fetch http-parser); log "http-parser $(version http-parser)"
        $host-gcc -O2 -c "$d/http_parser.c" -o "$d/http_parser.o"
        $host-ar rcs "$prefix/lib/libhttp_parser.a" "$d/http_parser.o"
        cp "$d/http_parser.h" "$prefix/include/"
        pcfile http-parser "$(version http-parser | sed 's/-.*//')" -lhttp_parser
        stamp http-parser
fi

# --- TRE: POSIX regular expressions for the catalogue's regex() ----------------------
if ! built tre; then
        d=$(fetch tre); log "tre $(version tre)"
        autotools_build "$d" --disable-shared --enable-static --disable-nls --disable-agrep
        stamp tre
fi

# --- libsodium --------------------------------------------------------------------
if ! built libsodium; then
        d=$(fetch libsodium); log "libsodium $(version libsodium)"
        autotools_build "$d" --disable-shared --enable-static --disable-pie
        stamp libsodium
fi

# --- libgit2: HTTPS through WinHTTP, SHA-1 with collision detection ----------------------
if ! built libgit2; then
        d=$(fetch libgit2); log "libgit2 $(version libgit2)"
        # Debian's source (+ds) drops libgit2's deps/: its WinHTTP import
        # library is not needed (Debian's mingw-w64 has winhttp.h and
        # libwinhttp.a), and regular expressions come from TRE's regcomp
        sed -i 's/^\tif(MINGW)$/\tif(FALSE) # daiban: mingw-w64 has winhttp/' "$d/cmake/SelectWinHTTP.cmake"
        cmake_build "$d" -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTS=OFF -DBUILD_CLI=OFF \
                -DUSE_HTTPS=WinHTTP -DUSE_SSH=OFF -DUSE_HTTP_PARSER=system \
                -DREGEX_BACKEND=regcomp -DCMAKE_C_FLAGS="-I$prefix/include/tre" \
                -DUSE_BUNDLED_ZLIB=OFF -DUSE_NTLMCLIENT=OFF
        stamp libgit2
fi

# --- libarchive: backups, gzip + tar only ----------------------------------------------
if ! built libarchive; then
        d=$(fetch libarchive); log "libarchive $(version libarchive)"
        # the static library only, named libarchive.a as on Linux (the
        # source names it libarchive_static.a on Windows, beside a DLL
        # whose import library would take -larchive)
        sed -i -e 's/^ADD_LIBRARY(archive SHARED /ADD_LIBRARY(archive SHARED EXCLUDE_FROM_ALL /' \
                -e 's/^  INSTALL(TARGETS archive archive_static$/  INSTALL(TARGETS archive_static/' \
                -e 's/^IF(NOT WIN32 OR CYGWIN)$/IF(TRUE) # daiban: static only/' "$d/libarchive/CMakeLists.txt"
        # a backup is a tar.gz (docs/backup.md): zlib and nothing else; names
        # convert through Windows' code pages, not iconv. ZLIB_WINAPI is
        # answered (Debian's zlib is not built for WINAPI): its test program
        # cannot run when cross-building, and CMake 3.25 crashes trying
        z=/usr/$host/lib/libz.a
        cmake_build "$d" -DENABLE_TEST=OFF -DENABLE_TAR=OFF -DENABLE_CPIO=OFF -DENABLE_CAT=OFF \
                -DENABLE_ZLIB=ON -DZLIB_LIBRARY=$z -DZLIB_WINAPI=OFF -DZLIB_WINAPI_WITH_LIB=$z \
                -DENABLE_OPENSSL=OFF -DENABLE_CNG=OFF \
                -DENABLE_MBEDTLS=OFF -DENABLE_NETTLE=OFF -DENABLE_LIBB2=OFF -DENABLE_LZ4=OFF \
                -DENABLE_LZO=OFF -DENABLE_LZMA=OFF -DENABLE_ZSTD=OFF -DENABLE_BZip2=OFF \
                -DENABLE_LIBXML2=OFF -DENABLE_EXPAT=OFF -DENABLE_PCREPOSIX=OFF -DENABLE_LIBGCC=OFF \
                -DPOSIX_REGEX_LIB=NONE -DENABLE_ACL=OFF -DENABLE_XATTR=OFF -DENABLE_ICONV=OFF
        # its headers declare dllimport unless LIBARCHIVE_STATIC, which the
        # .pc gives only as Cflags.private (meson does not ask for those)
        sed -i 's/^Cflags: -I${includedir}$/Cflags: -I${includedir} -DLIBARCHIVE_STATIC/' \
                "$prefix/lib/pkgconfig/libarchive.pc"
        stamp libarchive
fi

log "done: $prefix"
