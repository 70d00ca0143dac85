#!/usr/bin/env bash
# sign.sh CERT KEY FILE...
# Signs Windows executables and MSIs in place (Authenticode, SHA-256) with
# osslsigncode. CERT is the code-signing certificate (PEM, with its chain),
# KEY its private key (PEM). Optional environment:
#   SIGN_KEY_PASS_FILE  a file holding the key's passphrase
#   SIGN_TIMESTAMP      an RFC 3161 timestamp server URL, so signatures
#                       outlive the certificate
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 CERT KEY FILE..." >&2; exit 2; }
cert=$1 key=$2
shift 2
for f in "$cert" "$key"; do
	[ -r "$f" ] || { echo "$0: $f: cannot read" >&2; exit 2; }
done
opts=(-certs "$cert" -key "$key" -h sha256)
[ -n "${SIGN_KEY_PASS_FILE:-}" ] && opts+=(-readpass "$SIGN_KEY_PASS_FILE")
[ -n "${SIGN_TIMESTAMP:-}" ] && opts+=(-ts "$SIGN_TIMESTAMP")
for f in "$@"; do
	case $f in
	*esmon-agent*) desc="esmon agent" ;;
	*) desc="esmon" ;;
	esac
	# osslsigncode replaces an existing signature, so signing twice is safe.
	osslsigncode sign "${opts[@]}" -n "$desc" -in "$f" -out "$f.signed" >/dev/null
	mv "$f.signed" "$f"
	echo "signed $f"
done
