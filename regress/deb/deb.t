# The Debian package as an administrator meets it (make deb-test; not part
# of make test, it takes a minute or two): make deb builds it in a scratch
# copy of the tree, lintian finds no error and no warning, apt-get installs
# it and the service answers on 127.0.0.1:9000 with its handlers, broker
# and workers running as _slua; the LSB init script starts, reloads and
# stops it; systemd-analyze verifies the unit; installed again, it keeps
# an edited config and restarts; apt-get remove stops it and dpkg --purge
# leaves nothing behind.
#
# The package goes onto a throwaway copy of this machine's root: an
# overlay of / whose upper layer is a tmpfs, in a mount namespace and a
# network namespace of the test's own.  Nothing it installs, creates,
# starts or listens on is seen by the machine or by a test running beside
# it (every slua -p on the machine would read the package's
# /etc/slua.conf), and a test killed midway leaves no package installed.
# There, as on a booted Debian machine, runlevel says 2 and no
# policy-rc.d forbids starting services, so the postinst's invoke-rc.d
# starts the service as it would on a real host.
. "$(dirname "$0")/../lib.sh"
plan 37

TOP=$(cd "$REGRESS/../.." && pwd)
root="$T/root"
holder=""

# ---------------------------------------------------------------------------
# The throwaway root.

# The holder: a process that keeps the namespaces alive while the test
# enters them; it mounts the overlay, /dev, /proc and /sys, and brings up
# the namespace's own loopback.  /etc and dpkg's database come from a copy
# made now, an opaque layer above /: what the machine does to them
# meanwhile is not seen (another test's useradd holding /etc/group.lock
# would fail the postinst's adduser), and they are what the leftovers are
# compared with.
cat > "$T/holder.sh" <<'SH'
set -e
T=$1
mount -t tmpfs tmpfs "$T/ov"
mkdir -p "$T/ov/up" "$T/ov/work" "$T/ov/snap/var/lib"
cp -a /etc "$T/ov/snap/etc"
cp -a /var/lib/dpkg "$T/ov/snap/var/lib/dpkg"
rm -f "$T/ov/snap/etc/"*.lock
setfattr -n trusted.overlay.opaque -v y "$T/ov/snap/etc" \
    "$T/ov/snap/var/lib/dpkg"
mount -t overlay overlay -o \
    "lowerdir=$T/ov/snap:/,upperdir=$T/ov/up,workdir=$T/ov/work" "$T/root"
mount --rbind /dev "$T/root/dev"
mount -t proc proc "$T/root/proc"
mount -t sysfs sysfs "$T/root/sys"
ip link set lo up
# A booted machine: a runlevel, and no policy that denies starting.
printf '#!/bin/sh\necho N 2\n' > "$T/root/usr/sbin/runlevel.new"
chmod 755 "$T/root/usr/sbin/runlevel.new"
mv -f "$T/root/usr/sbin/runlevel.new" "$T/root/usr/sbin/runlevel"
rm -f "$T/root/usr/sbin/policy-rc.d"
# man-db's trigger rebuilds its whole index, twice: half a minute of the
# test, none of it the package's.
rm -f "$T/root/var/lib/man-db/auto-update"
mkdir -m 755 "$T/root/srv/slua-deb"
cp "$2" "$T/root/srv/slua-deb/"
chmod 644 "$T/root/srv/slua-deb/"*
touch "$T/ready"
exec sleep 3600
SH

# Commands in the throwaway root, its network or its mounts; R is for run
# and detach, which take a command, not a function.
R=()
in_root() { "${R[@]}" "$@"; }
in_net() { nsenter -t "$holder" -n -- "$@"; }
in_mnt() { nsenter -t "$holder" -m -- "$@"; }

# Every process in the throwaway root's mount namespace but the holder,
# zombies left out.
ns=""
in_ns() {
	for _p in /proc/[0-9]*; do
		[ "${_p#/proc/}" != "$holder" ] || continue
		[ "$(readlink "$_p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
		[ "$(cut -d' ' -f3 "$_p/stat" 2>/dev/null)" != Z ] || continue
		echo "${_p#/proc/}"
	done
}
title() {
	tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | head -1
}
with_title() {	# title: the pids in the namespace titled so
	for _p in $(in_ns); do
		[ "$(title "$_p" | sed 's/ *$//')" = "$1" ] && echo "$_p"
	done
}
# "user role" of the service's processes, once each, users named as the
# throwaway root names them.
roles() {
	_l=$(in_ns | tr '\n' ,)
	[ -n "$_l" ] || return 0
	in_root ps -o user=,args= -p "${_l%,}" |
	    awk '$2 == "slua:" { print $1, $3 }' | sort -u
}
want_roles="_slua broker
_slua handler
_slua worker
root supervisor"
get() {		# path: one request to the service, in its namespace
	in_net curl -s -m 10 "http://127.0.0.1:9000$1"
}
listening() { in_net ss -Hltn | awk '{ print $4 }' | sort | tr '\n' ' '; }
nothing_left() { [ -z "$(in_ns)" ] && [ -z "$(listening)" ]; }
# Commands that start the daemon: bounded, not run's (which counts what a
# command leaves running as a failure).
detach() {	# secs cmd...
	_secs=$1; shift
	timeout -k 2 "$_secs" "$@" > "$T/out" 2> "$T/err" 3>&-
	rc=$?
}

# What the root's upper layer holds that its lower layers do not have the
# same: every file the package's life wrote there.  Expected, and left
# out: dpkg's and apt's records, logs and caches, the backups of passwd,
# group and their shadows, and what the holder put there.  The account
# files are rewritten whole when a user is added or removed: in those,
# only a line that names _slua is a leftover.
leftovers() {
	in_mnt sh -c '
	cd "$1/up" || exit 1
	find . \( -path ./var/lib/dpkg -o -path ./var/lib/apt -o \
	    -path ./var/log -o -path ./var/cache -o -path ./srv/slua-deb \) \
	    -prune -o -print | sed "s|^\.||" | while read -r f; do
		case "$f" in
		""|/etc/passwd-|/etc/group-|/etc/shadow-|/etc/gshadow-) continue ;;
		/etc/passwd|/etc/group|/etc/shadow|/etc/gshadow|/etc/sub[ug]id)
			! grep -qw _slua ".$f" || echo "_slua in $f"
			continue ;;
		/usr/sbin/runlevel|/usr/sbin/policy-rc.d) continue ;;
		/var/lib/man-db/auto-update) continue ;;
		esac
		case "$f" in
		/etc/*) l="$1/snap$f" ;;
		*) l=$f ;;
		esac
		if [ -d ".$f" ] && [ ! -L ".$f" ]; then
			[ -d "$l" ] || echo "new directory $f"
		elif [ -L ".$f" ]; then
			[ "$(readlink ".$f")" = "$(readlink "$l")" ] ||
			    echo "link $f"
		elif [ -f ".$f" ] && [ -f "$l" ]; then
			cmp -s ".$f" "$l" || echo "changed $f"
		elif [ -f ".$f" ]; then
			echo "new file $f"
		else
			echo "removed $f"
		fi
	done' sh "$T/ov"
}

ns_cleanup() {
	[ -n "$ns" ] || return 0
	for _p in $(in_ns); do kill -KILL "$_p" 2>/dev/null; done
}
trap 'ns_cleanup; _cleanup' EXIT

# ---------------------------------------------------------------------------
why=""
[ "$(id -u)" = 0 ] || why="not root"
for c in dpkg-buildpackage dh lintian apt-get unshare nsenter ip ss curl setfattr; do
	[ -n "$why" ] && break
	command -v "$c" > /dev/null || why="$c is not installed (make deb-test installs it)"
done
if [ -z "$why" ] && ! grep -qw overlay /proc/filesystems &&
    ! modprobe overlay 2>/dev/null; then
	why="no overlayfs"
fi
if [ -n "$why" ]; then
	for i in $(seq 37); do skip "the Debian package" "$why"; done
	done_testing
	exit
fi

version=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -SVersion)
deb="slua_${version}_$(dpkg --print-architecture).deb"
like "$("$SLUA" -V)" "^slua $version " \
    "debian/changelog's version, $version, is slua -V's"

run -t 600 make -s -C "$TOP" deb DEBDIR="$T/deb"
check "make deb: exit 0" 0
ok "make deb: $deb built" '[ -f "$T/deb/$deb" ]'
[ $rc = 0 ] || diag "$(tail -n 20 "$T/err")"

run -t 300 lintian --fail-on error,warning --display-info "$T/deb/$deb"
is "$rc $(grep -E '^[EW]: ' "$T/out")" "0 " "lintian: no error, no warning"
grep -E '^[IP]: ' "$T/out" | while read -r l; do diag "lintian: $l"; done

is "$(dpkg-deb -c "$T/deb/$deb" |
    awk '$1 !~ /^d/ { print substr($6, 2) ($7 == "->" ? " -> " $8 : "") }' |
    sort)" "/etc/init.d/slua
/etc/slua.conf
/lib/systemd/system/slua.service
/usr/bin/slua
/usr/share/doc/slua/README.Debian
/usr/share/doc/slua/changelog.gz
/usr/share/doc/slua/copyright
/usr/share/doc/slua/examples -> ../../slua/examples
/usr/share/man/man1/slua.1.gz
/usr/share/man/man3/slua-lua.3.gz
/usr/share/man/man5/slua.conf.5.gz
/usr/share/slua/examples/haproxy.cfg
/usr/share/slua/examples/hello-handler.lua
/usr/share/slua/examples/hello-worker.lua
/usr/share/slua/examples/http-handler.lua
/usr/share/slua/examples/inetd.conf" "the package's files"
is "$(dpkg-deb -I "$T/deb/$deb" conffiles)" "/etc/init.d/slua
/etc/slua.conf" "the conffiles: the config and the init script"

# ---------------------------------------------------------------------------
mkdir "$T/ov" "$root"
serve holder unshare -m -n --propagation private \
    sh "$T/holder.sh" "$T" "$T/deb/$deb"
wait_for 10 '[ -e "$T/ready" ] || ! alive "$holder"'
if [ ! -e "$T/ready" ]; then
	diag "no throwaway root"
	for i in $(seq 31); do _fail "the Debian package" "no throwaway root"; done
	done_testing
	exit
fi
ns=$(readlink "/proc/$holder/ns/mnt")
R=(nsenter -t "$holder" -m -n -- chroot "$root")

# Installed, the postinst started the service.
detach 300 "${R[@]}" env DEBIAN_FRONTEND=noninteractive \
    sh -c "cd /srv/slua-deb && apt-get install -y -q ./$deb"
check "apt-get install ./$deb: exit 0" 0
[ $rc = 0 ] || diag "$(tail -n 20 "$T/out" "$T/err")"
ok "the _slua system user and group exist" \
    'in_root getent passwd _slua | grep -q ":/nonexistent:/usr/sbin/nologin$" && in_root getent group _slua > /dev/null'
wait_for 10 '[ "$(get /hello)" = "/hello world" ]'
is "$(get /hello)" "/hello world" \
    "started by the install: the example answers on 127.0.0.1:9000"
is "$(roles)" "$want_roles" \
    "the handlers, broker and workers run as _slua; the supervisor as root"
is "$(listening)" "127.0.0.1:9000 " "it listens on 127.0.0.1:9000, nowhere else"
is "$(in_root slua -n -f /etc/slua.conf 2>&1)" "configuration OK" \
    "slua -n: the shipped /etc/slua.conf is OK"
ok "slua(1), slua.conf(5) and slua-lua(3) are installed" \
    'in_root sh -c "cd /usr/share/man && test -f man1/slua.1.gz && test -f man5/slua.conf.5.gz && test -f man3/slua-lua.3.gz"'
ok "the examples are in /usr/share/doc/slua/examples" \
    'in_root test -r /usr/share/doc/slua/examples/http-handler.lua'
ok "enabled at boot: the rc2.d link and the systemd unit's" \
    'in_root sh -c "ls /etc/rc2.d/S*slua && ls /etc/systemd/system/multi-user.target.wants/slua.service" > /dev/null'
if in_root systemd-analyze --version > /dev/null 2>&1; then
	run "${R[@]}" systemd-analyze verify /lib/systemd/system/slua.service
	check "systemd-analyze verify slua.service" 0 "" ""
else
	skip "systemd-analyze verify slua.service" "systemd-analyze is not installed"
fi

# The init script: stop, start, reload.
run "${R[@]}" /etc/init.d/slua stop
check "/etc/init.d/slua stop" 0
ok "nothing of the service is left running or listening" 'wait_for 15 nothing_left'

detach 60 "${R[@]}" /etc/init.d/slua start
check "/etc/init.d/slua start" 0
wait_for 10 '[ "$(get /again)" = "/again world" ]'
is "$(get /again)" "/again world" "started by the init script, the example answers"
is "$(roles)" "$want_roles" "again as _slua, the supervisor as root"

sup=$(in_root cat /run/slua.pid)
old=$(with_title "slua: handler" | tr '\n' ' ')
run "${R[@]}" /etc/init.d/slua reload
check "/etc/init.d/slua reload" 0
newgen() {	# the old handlers gone, as many new ones in their place
	_new=$(with_title "slua: handler" | tr '\n' ' ')
	for _p in $old; do alive "$_p" && return 1; done
	[ "$(echo $_new | wc -w)" = "$(echo $old | wc -w)" ]
}
ok "reload: a new generation of handlers under the same supervisor" \
    '[ -n "$old" ] && wait_for 20 newgen && [ "$(in_root cat /run/slua.pid)" = "$sup" ] && alive "$sup"'
is "$(get /reloaded)" "/reloaded world" "after the reload, the example answers"
is "$(roles)" "$want_roles" "after the reload, still as _slua"

# Installed again over itself, as an upgrade is: the edited config is kept
# and the service restarted with it.
in_root sed -i 's/^-- handlers = .*/handlers = 1/' /etc/slua.conf
detach 300 "${R[@]}" env DEBIAN_FRONTEND=noninteractive \
    sh -c "cd /srv/slua-deb && apt-get install -y -q --reinstall ./$deb"
check "apt-get install --reinstall, while the service runs: exit 0" 0
[ $rc = 0 ] || diag "$(tail -n 20 "$T/out" "$T/err")"
is "$(in_root grep -c '^handlers = 1$' /etc/slua.conf)" 1 \
    "the edited /etc/slua.conf is kept"
restarted() {	# a new supervisor, with one handler
	_s=$(in_root cat /run/slua.pid 2>/dev/null)
	[ -n "$_s" ] && [ "$_s" != "$sup" ] &&
	    [ "$(with_title "slua: handler" | wc -l)" = 1 ]
}
ok "the service restarted with it: a new supervisor, one handler" \
    'wait_for 20 restarted'
is "$(get /again)" "/again world" "after the reinstall, the example answers"

run "${R[@]}" /etc/init.d/slua stop
check "/etc/init.d/slua stop, after the reinstall" 0
ok "nothing of the service is left running or listening" 'wait_for 15 nothing_left'

# Removed while it runs, then purged.
detach 60 "${R[@]}" /etc/init.d/slua start
wait_for 10 '[ "$(get /last)" = "/last world" ]'
run -t 300 "${R[@]}" env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q slua
check "apt-get remove slua, while the service runs" 0
ok "remove stops the service: nothing left running or listening" \
    'wait_for 15 nothing_left'
ok "remove keeps /etc/slua.conf and the _slua user" \
    'in_root test -f /etc/slua.conf && in_root getent passwd _slua > /dev/null'
run -t 300 "${R[@]}" dpkg --purge slua
check "dpkg --purge slua" 0
ok "purge removes the config, the _slua user and group" \
    '! in_root test -e /etc/slua.conf && ! in_root getent passwd _slua && ! in_root getent group _slua'
is "$(leftovers)" "" "the purge leaves nothing: every file as the machine has it"

done_testing
