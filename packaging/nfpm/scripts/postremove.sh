#!/bin/sh
# deb postrm / rpm %postun of @PKG@ (made from packaging/nfpm/scripts/
# postremove.sh): forgets the unit; purge also deletes the state directory
# when the package says so (the agent's credential and spool, but never the
# core's data). The user stays, as Debian policy asks: files it owned
# elsewhere keep a name.
set -e
unit=@UNIT@ state=@STATE@ purge_state=@PURGE_STATE@

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if command -v deb-systemd-helper >/dev/null 2>&1; then
	case "$1" in
	remove) deb-systemd-helper mask "$unit" >/dev/null || true ;;
	purge)
		deb-systemd-helper purge "$unit" >/dev/null || true
		deb-systemd-helper unmask "$unit" >/dev/null || true
		;;
	esac
fi
if [ "$1" = purge ] && [ "$purge_state" = yes ]; then
	rm -rf "$state"
fi
exit 0
