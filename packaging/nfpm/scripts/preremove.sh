#!/bin/sh
# deb prerm / rpm %preun of @PKG@ (made from packaging/nfpm/scripts/
# preremove.sh): stops the service when the package goes, not on an upgrade.
set -e
unit=@UNIT@

# deb: remove (not upgrade); rpm: 0 erase (1 is an upgrade).
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
fi
# rpm has no deb-systemd-helper to mask the unit after removal: disable it.
if ! command -v deb-systemd-helper >/dev/null 2>&1 && command -v systemctl >/dev/null 2>&1; then
	systemctl disable "$unit" >/dev/null 2>&1 || true
fi
exit 0
