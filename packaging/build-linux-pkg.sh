#!/usr/bin/env bash
# build-linux-pkg.sh PACKAGE ARCH FORMAT BIN VERSION OUTDIR
#   PACKAGE  agent (esmon-agent) or core (esmon-core, the headless esmon)
#   ARCH     amd64 or arm64
#   FORMAT   deb or rpm
# Fills in the package's nfpm config (packaging/nfpm/PACKAGE.yaml) and its
# maintainer scripts (packaging/nfpm/scripts) and runs nfpm ($NFPM, which
# the Makefile installs) from the repository root.
# Prints the path of the package made.
set -euo pipefail
[ $# -eq 6 ] || { echo "usage: $0 agent|core ARCH deb|rpm BIN VERSION OUTDIR" >&2; exit 2; }
pkg=$1 arch=$2 format=$3 bin=$4 version=$5 out=$6
root=$(cd "$(dirname "$0")/.." && pwd)
: "${NFPM:?set NFPM to the nfpm binary (make installs it)}"
[[ $version =~ ^[0-9]+(\.[0-9]+)*([~+][0-9A-Za-z.]+)?$ ]] || { echo "$0: version $version: want digits and dots, such as 1.2.3" >&2; exit 2; }

case $pkg in
agent) name=esmon-agent user=esmon-agent unit=esmon-agent.service config=/etc/esmon/agent.yml
	state=/var/lib/esmon-agent needs='join_code|core|token|token_file' purge_state=yes ;;
core) name=esmon-core user=esmon unit=esmon.service config=/etc/esmon/esmon.yml
	state=/var/lib/esmon needs='' purge_state=no ;;
*) echo "$0: package $pkg: want agent or core" >&2; exit 2 ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
maintainer=${MAINTAINER:-esmon maintainers <esmon@localhost>}
case $format in
deb) file=$out/${name}_${version}_${arch}.deb ;;
rpm) file=$out/${name}-${version}-1.$([ "$arch" = amd64 ] && echo x86_64 || echo aarch64).rpm ;;
*) echo "$0: format $format: want deb or rpm" >&2; exit 2 ;;
esac

# fill fills in the @PLACEHOLDERS@ of file $1 into $2, and fails on any left.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fill() {
	sed -e "s|@PKG@|$name|g" -e "s|@USER@|$user|g" -e "s|@UNIT@|$unit|g" \
		-e "s|@CONFIG@|$config|g" -e "s|@STATE@|$state|g" -e "s/@NEEDS@/$needs/g" \
		-e "s|@PURGE_STATE@|$purge_state|g" -e "s|@ARCH@|$arch|g" -e "s|@VERSION@|$version|g" \
		-e "s|@MAINTAINER@|$maintainer|g" -e "s|@BIN@|$bin|g" -e "s|@SCRIPTS@|$work|g" \
		-e '/^#/s/@PLACEHOLDERS@/placeholders/' "$1" >"$2"
	if grep -n '@[A-Z_]*@' "$2" >&2; then
		echo "$0: $1: placeholder left unfilled" >&2
		exit 1
	fi
}
for s in postinstall preremove postremove; do
	fill "$root/packaging/nfpm/scripts/$s.sh" "$work/$s.sh"
done
fill "$root/packaging/nfpm/$pkg.yaml" "$work/nfpm.yaml"

cd "$root"
"$NFPM" package --config "$work/nfpm.yaml" --packager "$format" --target "$file" >&2
echo "$file"
