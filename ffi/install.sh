#!/usr/bin/env bash
# Builds the ferry C library and installs it under a prefix, as a system library is:
#
#   ffi/install.sh [--prefix DIR]      (or PREFIX=DIR ffi/install.sh; default /usr/local)
#
#   DIR/include/ferry.h
#   DIR/lib/libferry.so.0.1.0   libferry.so.0 -> libferry.so.0.1.0   libferry.so -> libferry.so.0
#   DIR/lib/libferry.a          DIR/lib/ferry-static/libferry.a -> ../libferry.a
#   DIR/lib/pkgconfig/ferry.pc
#
# A shell script rather than a cargo xtask: it needs nothing but cargo and coreutils,
# runs from a fresh clone, and reads top to bottom as the list of what gets installed.
# DESTDIR is honoured for staged installs (packaging).
set -euo pipefail

prefix=${PREFIX:-/usr/local}
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (expected --prefix DIR)" >&2; exit 2 ;;
  esac
done
case "$prefix" in
  /*) ;;
  *) prefix=$(pwd)/$prefix ;;
esac

ffi=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$ffi")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ffi/Cargo.toml" | head -1)
major=${version%%.*}

cargo build --release -p ferry-ffi --manifest-path "$repo/Cargo.toml"
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release

dest=${DESTDIR:-}$prefix
install -d "$dest/include" "$dest/lib/pkgconfig" "$dest/lib/ferry-static"
install -m 0644 "$ffi/include/ferry.h" "$dest/include/ferry.h"
install -m 0755 "$target/libferry.so" "$dest/lib/libferry.so.$version"
ln -sfn "libferry.so.$version" "$dest/lib/libferry.so.$major"
ln -sfn "libferry.so.$major" "$dest/lib/libferry.so"
install -m 0644 "$target/libferry.a" "$dest/lib/libferry.a"
ln -sfn ../libferry.a "$dest/lib/ferry-static/libferry.a"
sed -e "s|@PREFIX@|$prefix|" -e 's|@LIBDIR@|${prefix}/lib|' -e 's|@INCLUDEDIR@|${prefix}/include|' \
  -e 's|@STATICDIR@|${libdir}/ferry-static|' -e "s|@VERSION@|$version|" \
  "$ffi/ferry.pc.in" >"$dest/lib/pkgconfig/ferry.pc"

echo "installed ferry $version under $dest:"
echo "  PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc app.c \$(pkg-config --cflags --libs ferry)"
echo "  (add -Wl,-rpath,$prefix/lib unless $prefix/lib is on the loader's path; --static links libferry.a)"
