#!/usr/bin/env bash
# build-console.sh linux|windows VERSION COMMIT OUT
# Builds the esmon console (the Fyne app in app/) with `fyne package` ($FYNE,
# which the Makefile installs), with its name, icon, desktop entry and, for
# Windows, version resource and GUI subsystem from FyneApp.toml.
#   linux    OUT is the .tar.xz (binary, .desktop file and icon, with a
#            Makefile that installs them)
#   windows  OUT is the .exe, cross-built with mingw-w64
# fyne package writes its metadata files into the source directory while it
# builds, so it runs on a copy of the tree in bin/console-src, never in the
# tree that others edit and build.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 linux|windows VERSION COMMIT OUT" >&2; exit 2; }
os=$1 version=$2 commit=$3 out=$4
root=$(cd "$(dirname "$0")/.." && pwd)
: "${FYNE:?set FYNE to the fyne command (make installs it)}"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "$0: version $version: want x.y.z" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

src=$root/bin/console-src-$os
rm -rf "$src"
mkdir -p "$src"
(cd "$root" && tar --exclude=./.git --exclude=./bin --exclude=./dist --exclude=node_modules --exclude='*.test' -cf - .) | tar -xf - -C "$src"
# fyne package names the program, and the archive's directory, after the
# directory it builds: esmon, not app.
mv "$src/app" "$src/esmon"
# FyneApp.toml sits at the root and names its icon from there; fyne package
# reads it from the directory it builds.
sed 's|^\(  *Icon *= *"\)|\1../|' "$root/FyneApp.toml" >"$src/esmon/FyneApp.toml"

env=(GOFLAGS="-ldflags=-X=main.Version=$version -ldflags=-X=main.Commit=$commit")
case $os in
linux) ;;
windows) env+=(GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc) ;;
*) echo "$0: os $os: want linux or windows" >&2; exit 2 ;;
esac
cd "$src/esmon"
env "${env[@]}" "$FYNE" package --os "$os" --release --app-version "$version" --src . --name esmon
case $os in
linux) mv esmon.tar.xz "$out" ;;
windows) mv esmon.exe "$out" ;;
esac
echo "$out"
