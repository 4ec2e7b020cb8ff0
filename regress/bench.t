# make bench's keep-alive rows: nginx's Lua module fetched, never
# installed, by common/ngxlua.sh, and what bench.sh says when it cannot
# measure.  apt-get, nginx and dpkg-query are stand-ins on PATH here: no
# download, no server.
. "$(dirname "$0")/lib.sh"
plan 12

NGXLUA=$REGRESS/../common/ngxlua.sh
BENCHSH=$REGRESS/bench/bench.sh
mkdir -p "$T/bin"
cat > "$T/bin/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >> "$T/apt.calls"
echo "Err:1 http://deb.debian.org/debian bookworm/main amd64 x" >&2
echo "E: Failed to fetch http://deb.debian.org/x.deb  Temporary failure resolving 'deb.debian.org'" >&2
exit 100
EOF
cat > "$T/bin/nginx" <<'EOF'
#!/bin/sh
echo "nginx version: nginx/1.22.1" >&2
EOF
cat > "$T/bin/dpkg-query" <<'EOF'
#!/bin/sh
case "$*" in
*Provides*)	printf 'httpd, httpd-cgi, nginx-abi-1.22.1-7' ;;
*Version*)	printf '1.22.1-9+deb12u11' ;;
*)		exec /usr/bin/dpkg-query "$@" ;;
esac
EOF
chmod +x "$T/bin/apt-get" "$T/bin/nginx" "$T/bin/dpkg-query"
P=$T/bin:$PATH
FAILED="apt-get download failed: Failed to fetch http://deb.debian.org/x.deb  Temporary failure resolving 'deb.debian.org'"

run env PATH="$P" sh "$NGXLUA" "$T/ngx"
check "a failed download leaves make bench going" 0 ""
is "$(cat "$T/ngx/why" 2>&1)" "$FAILED" "the reason is apt's error"
ok "nothing is unpacked" '[ ! -e "$T/ngx/root" ]'

# bench.sh [env...]: the keep-alive rows alone, once, their lines kept.
bench() {
	run -t 60 env PATH="$P" BENCH_ONLY=keepalive BENCH_REPS=1 \
	    BENCH_RESULTS="$T/RESULTS.md" SLUA="$SLUA" BENCH="$T/nobench" \
	    "$@" bash "$BENCHSH"
	grep -E '^(\| keep-alive|- keep-alive)' "$T/out"
}
rows='| keep-alive, 64 connections | req/s | - | - | - | ≥ 1.0 | - | - |
| keep-alive, 1000 connections | req/s | - | - | - | ≥ 1.0 | - | - |'

is "$(bench NGX_LUA="$T/ngx")" "$rows
- keep-alive: not measured: nginx's Lua module: $FAILED." \
    "bench.sh: the rows unmeasured, with the download's failure"
ok "BENCH_ONLY leaves RESULTS.md alone" '[ ! -e "$T/RESULTS.md" ]'

is "$(bench NGX_LUA="$T/none")" "$rows
- keep-alive: not measured: nginx's Lua module is not in $T/none (make bench fetches it)." \
    "bench.sh: the module never fetched"

is "$(bench NGX_LUA="$T/ngx" PATH=/usr/bin/nonexistent:/bin:/usr/bin |
    sed -n 3p)" "- keep-alive: not measured: nginx is not installed (make bench installs it)." \
    "bench.sh: no nginx"

# A module unpacked for another nginx release.
mkdir -p "$T/old/root"
printf 'lib=usr/lib/x86_64-linux-gnu\nabi=nginx-abi-1.18.0-6\n' \
    > "$T/old/root/ok"
is "$(bench NGX_LUA="$T/old" | sed -n 3p)" "- keep-alive: not measured: the Lua module in $T/old is built for nginx-abi-1.18.0-6; nginx 1.22.1-9+deb12u11 is not (rm -r $T/old; make bench)." \
    "bench.sh: a module for another nginx is not loaded"

# Once unpacked, nothing is fetched again.
: > "$T/apt.calls"
run env PATH="$P" sh "$NGXLUA" "$T/old"
check "ngxlua.sh: an unpacked module is left as it is" 0 "" ""
ok "and apt-get is not run" '[ ! -s "$T/apt.calls" ]'

run env BENCH_ONLY=http SLUA="$SLUA" BENCH="$T/nobench" bash "$BENCHSH"
check "BENCH_ONLY names a part bench.sh has" 100 "" \
    "bench: BENCH_ONLY must be tcp, queue or keepalive"

run sh "$NGXLUA"
check "ngxlua.sh needs its directory" 100 "" \
    "usage: sh common/ngxlua.sh DIR"

done_testing
