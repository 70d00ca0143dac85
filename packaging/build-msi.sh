#!/usr/bin/env bash
# build-msi.sh VERSION AGENT_EXE OUT_MSI
# Builds the agent's MSI from packaging/wix/esmon-agent.wxs with wixl, then
# sets in its tables what wixl has no attribute for:
# - RemoveExistingProducts right after InstallValidate, so an upgrade takes
#   the old version (and its service) away before the new one is put in
#   place, rather than after (wixl's choice), which leaves two products
#   owning one service;
# - HideTarget (0x2000) on the AgentSetup custom action, so the join code
#   on its command line stays out of the installer's log.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 VERSION AGENT_EXE OUT_MSI" >&2; exit 2; }
version=$1 exe=$2 out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
# Windows Installer versions are major.minor.build, each a number.
[[ $version =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,5}$ ]] || { echo "$0: version $version: an MSI needs x.y.z (numbers)" >&2; exit 2; }
[ -f "$exe" ] || { echo "$0: $exe: no such file" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
tmp=$out.tmp
rm -f "$tmp"
# wixl finds sources relative to the working directory only.
(cd "$(dirname "$exe")" && wixl -a x64 -D "Version=$version" -D "AgentExe=$(basename "$exe")" -o "$tmp" "$root/packaging/wix/esmon-agent.wxs")
# deferred (0x400) + no impersonation (0x800) + exe from an installed file (18)
# + HideTarget (0x2000)
msibuild "$tmp" \
	-q "UPDATE InstallExecuteSequence SET Sequence=1450 WHERE Action='RemoveExistingProducts'" \
	-q "UPDATE CustomAction SET Type=11282 WHERE Action='AgentSetup'"
mv "$tmp" "$out"
echo "$out"
