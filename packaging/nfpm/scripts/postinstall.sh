#!/bin/sh
# deb postinst / rpm %post of @PKG@ (made from packaging/nfpm/scripts/
# postinstall.sh by packaging/build-linux-pkg.sh): creates the service's own
# user, lets it read its config and write its state directory, enables the
# unit, and starts it on a first install when the config is ready (restarts
# it on an upgrade when it runs).
set -e
pkg=@PKG@ user=@USER@ unit=@UNIT@ config=@CONFIG@ state=@STATE@ needs='@NEEDS@'

# deb: configure (or abort-*, after a failed upgrade); rpm: 1 install, 2 upgrade.
first=no
case "$1" in
configure) [ -z "$2" ] && first=yes ;;
abort-upgrade | abort-remove | abort-deconfigure | 2) ;;
1) first=yes ;;
*) exit 0 ;;
esac

if ! getent passwd "$user" >/dev/null; then
	useradd --system --user-group --home-dir "$state" --no-create-home \
		--shell /usr/sbin/nologin --comment "esmon ($pkg)" "$user"
fi
install -d -o "$user" -g "$user" -m 0750 "$state"
chown "root:$user" "$config"
chmod 0640 "$config"

if command -v deb-systemd-helper >/dev/null 2>&1; then
	# As debhelper does: was-enabled is true on a first install, and an
	# upgrade keeps an administrator's disable.
	deb-systemd-helper unmask "$unit" >/dev/null || true
	if deb-systemd-helper --quiet was-enabled "$unit"; then
		deb-systemd-helper enable "$unit" >/dev/null || true
	else
		deb-systemd-helper update-state "$unit" >/dev/null || true
	fi
elif [ "$first" = yes ] && command -v systemctl >/dev/null 2>&1; then
	systemctl enable "$unit" >/dev/null 2>&1 || echo "$pkg: could not enable $unit" >&2
fi

# The config is ready when it sets one of the keys in $needs.
ready=yes
if [ -n "$needs" ] && ! grep -Eq "^[[:space:]]*($needs):[[:space:]]*[^[:space:]#]" "$config"; then
	ready=no
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ "$first" = no ]; then
		systemctl try-restart "$unit" || echo "$pkg: $unit did not restart: journalctl -u $unit" >&2
	elif [ "$ready" = yes ]; then
		systemctl start "$unit" || echo "$pkg: $unit did not start: journalctl -u $unit" >&2
	fi
fi
if [ "$ready" = no ]; then
	echo "$pkg: $config sets none of: $(echo "$needs" | sed 's/|/, /g'). Set one (the join code), then: systemctl start $unit"
fi
exit 0
