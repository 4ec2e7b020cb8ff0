#!/bin/sh
# make bench: nginx's Lua module, unpacked under the build tree and never
# installed.  On Debian 12 libnginx-mod-http-lua needs OpenResty's LuaJIT
# (libluajit2-5.1-2), which conflicts with libluajit-5.1-2: installing it
# would remove luajit, libluajit-5.1-dev (make LUA=luajit) and wrk.  So the
# packages are fetched with apt-get download and unpacked with dpkg-deb -x
# into DIR/root; bench.sh loads the modules from there, with
# LD_LIBRARY_PATH on the unpacked LuaJIT.
#
#   sh common/ngxlua.sh DIR
#
# Does nothing once DIR/root/ok exists.  Exits 0 when the packages cannot
# be had, so make bench goes on: it says why in DIR/why, which bench.sh
# prints in place of the keep-alive rows.

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: sh common/ngxlua.sh DIR" >&2
	exit 100
fi
dir=$1
# The module, its NDK, lua-resty-core which the module loads at start
# (and its lrucache), and the LuaJIT it was built for.
PKGS="libnginx-mod-http-lua libnginx-mod-http-ndk libluajit2-5.1-2
lua-resty-core lua-resty-lrucache"

[ -f "$dir/root/ok" ] && exit 0

# why text: leave the reason for bench.sh, and stop without failing make.
why() {
	echo "$*" > "$dir/why"
	echo "slua: bench: nginx's Lua module: $*" >&2
	exit 0
}

mkdir -p "$dir" || exit 0
rm -f "$dir/why"
for tool in apt-get dpkg-deb ldd; do
	command -v "$tool" > /dev/null || why "$tool is not installed"
done

# fetch: the packages into DIR/deb, afresh.  As root apt would hand the
# download to its _apt user, who cannot write in the build tree, and warn.
asroot=""
[ "$(id -u)" -eq 0 ] && asroot="-o APT::Sandbox::User=root"
fetch() {
	rm -rf "$dir/deb" && mkdir "$dir/deb" || return 1
	# shellcheck disable=SC2086
	(cd "$dir/deb" && apt-get download -q $asroot $PKGS) \
	    > "$dir/fetch.log" 2>&1
}

# shellcheck disable=SC2086
echo "slua: bench: fetching" $PKGS "into $dir" >&2
if ! fetch; then
	# A stale package list names versions the mirror no longer has.
	if [ "$(id -u)" -ne 0 ] || ! apt-get update -qq > /dev/null 2>&1 ||
	    ! fetch; then
		why "apt-get download failed:" \
		    "$( (grep '^E:' "$dir/fetch.log"; cat "$dir/fetch.log") |
		    head -1 | sed 's/^E: //')"
	fi
fi

rm -rf "$dir/root" "$dir/root.new"
for deb in "$dir"/deb/*.deb; do
	dpkg-deb -x "$deb" "$dir/root.new" ||
	    why "dpkg-deb -x $(basename "$deb") failed"
done

# The module must resolve to the unpacked LuaJIT, not to Debian's.
mod=$dir/root.new/usr/lib/nginx/modules/ngx_http_lua_module.so
lib=$(find "$dir/root.new" -name 'libluajit-5.1.so.2' | head -1)
[ -f "$mod" ] || why "no ngx_http_lua_module.so in the packages"
[ -n "$lib" ] || why "no libluajit-5.1.so.2 in the packages"
lib=$(cd "$(dirname "$lib")" && pwd)
LD_LIBRARY_PATH=$lib ldd "$mod" | grep -q "=> $lib/libluajit-5.1.so.2" ||
    why "ngx_http_lua_module.so does not resolve to $lib"

# What bench.sh needs to know: the library's directory under root, and
# the nginx ABI the module was built for (it loads only into that nginx).
{
	echo "lib=${lib#"$(cd "$dir/root.new" && pwd)"/}"
	dpkg-deb -f "$dir"/deb/libnginx-mod-http-lua_*.deb Depends |
	    tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/abi=\1/p'
	for deb in "$dir"/deb/*.deb; do
		echo "pkg=$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
	done
} > "$dir/root.new/ok" || why "cannot write $dir/root.new/ok"
mv "$dir/root.new" "$dir/root" || why "cannot move $dir/root.new"
exit 0
