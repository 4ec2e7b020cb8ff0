#!/bin/sh
# Install the Debian packages slua needs to build and test, and only those
# that are missing.  Silent when everything is present; safe to re-run.
# With "deb", also those make deb and make deb-test need.
PKGS="gcc make pkg-config libc6-dev
liblua5.1-0-dev lua5.1 libluajit-5.1-dev luajit
haproxy
libpcre2-dev libssl-dev libjson-c-dev libbsd-dev
mandoc curl socat openssl netcat-openbsd procps wrk python3
openbsd-inetd systemd strace python3-prometheus-client
clang libclang-rt-dev valgrind
redis-server redis-tools libhiredis-dev"
# make bench: the peers it measures slua beside (gearmand, its library;
# nginx, and libpcre3 for its Lua module, which ngxlua.sh fetches below).
[ "${1:-}" = bench ] && PKGS="$PKGS
gearman-job-server libgearman-dev nginx libpcre3"
# make deb and make deb-test: Debian's packaging tools besides.
[ "${1:-}" = deb ] && PKGS="$PKGS
debhelper dpkg-dev lintian adduser iproute2 attr"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
# make bench: nginx's Lua module is fetched, not installed (ngxlua.sh).
ngxlua() {
	[ "${1:-}" = bench ] || return 0
	sh "$(dirname "$0")/ngxlua.sh" \
	    "$(cd "$(dirname "$0")/.." && pwd)/build/bench/ngx-lua"
}
[ -z "$missing" ] && { ngxlua "${1:-}"; exit 0; }

if [ "$(id -u)" -ne 0 ]; then
	echo "slua: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "slua: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list cannot find new packages: refresh it first.
apt-get update -qq >/dev/null || exit 1
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
ngxlua "${1:-}"
