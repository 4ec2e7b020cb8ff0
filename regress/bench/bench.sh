#!/usr/bin/env bash
# make bench: each slua figure measured beside a small C baseline in the
# same run, the two alternated (the order flips every repetition, so a
# machine that drifts penalises neither), BENCH_REPS repetitions (default
# 3), medians.  Prints one markdown table and writes it into RESULTS.md,
# one section per Lua flavour, so a Lua 5.1 and a LuaJIT run sit side by
# side.
#
#   SLUA=build/lua5.1/slua BENCH=build/bench LUA=lua5.1 bash bench.sh
#
# BENCH names the directory of the compiled baselines (prefork, relay,
# stopwatch and, where libgearman is installed, gearjobs).  Every server
# listens on 127.0.0.1 only, runs under timeout(1), and is stopped by its
# pid when its run ends or, at the latest, when this script exits.

set -u
: "${SLUA:?SLUA must name the slua binary}"
: "${BENCH:?BENCH must name the directory of the baseline binaries}"
LUA=${LUA:-lua5.1}
REPS=${BENCH_REPS:-3}
DIR=$(cd "$(dirname "$0")" && pwd)
RESULTS=${BENCH_RESULTS:-$DIR/RESULTS.md}
NPROC=$(nproc)
HANDLERS=$((2 * NPROC))		# slua's default -H; prefork gets as many
WORKERS=2
JOBS=200000
GEAR_JOBS=40000			# gearmand is several times slower
QUEUE_JOBS=50000		# through redis-server
XADDS=400000			# redis-benchmark -P 32 XADD
LAT_JOBS=20000
PAYLOAD_ROUNDS=8
COPY_ROUNDS=32			# the raw copy is ten times faster
STARTS=200
CPU_JOBS=10000
WRK_SECS=5
RUN_SECS=60			# bound on any one run
SERVER_SECS=120			# bound on any one server's life

case "$LUA" in
luajit)	INTERP=luajit ;;
*)	INTERP=lua5.1 ;;
esac
case "$REPS" in
''|*[!0-9]*|0) echo "bench: BENCH_REPS must be a positive number" >&2
	exit 100 ;;
esac
for tool in wrk curl "$INTERP" timeout; do
	if ! command -v "$tool" > /dev/null; then
		echo "bench: $tool is not installed (make deps)" >&2
		exit 111
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/slua-bench.XXXXXX")
S=$T/samples			# one file per figure and side, a value a line
mkdir -p "$S"
NOTES=$T/notes			# what went wrong, for under the table
: > "$NOTES"
export LUA_PATH="$DIR/?.lua;;"	# cpu.lua and cpubase.lua require cpujob
SW=$BENCH/stopwatch
live=""				# pids of the servers still running

# stop pid: TERM, five seconds' grace, then KILL.  The pid is timeout(1)'s,
# which leads a process group of its own (the server and its children) and
# passes TERM on to it; KILL it cannot pass on, so that goes to the group.
stop() {
	local i=0 p left=""
	if kill -TERM "$1" 2> /dev/null; then
		while kill -0 "$1" 2> /dev/null && [ $i -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if kill -0 "$1" 2> /dev/null; then
			note "a server (pid $1) ignored TERM for 5 s; killed"
			kill -KILL -- "-$1" 2> /dev/null
		fi
	fi
	wait "$1" 2> /dev/null
	for p in $live; do
		[ "$p" = "$1" ] || left="$left $p"
	done
	live=$left
	return 0
}

cleanup() {
	local p
	for p in $live; do
		stop "$p"
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

note() {
	echo "bench: $*" >&2
	echo "$*" >> "$NOTES"
}

free_port() {
	local p hex
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		hex=$(printf '%04X' "$p")
		if ! grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2> /dev/null
		then echo "$p"; return; fi
	done
}

wait_port() {
	local i=0
	while [ $i -lt 200 ]; do
		if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then
			return 0
		fi
		sleep 0.025
		i=$((i + 1))
	done
	return 1
}

# serve log cmd...: start a server; its pid (timeout's) in $srv.  Each
# server, baseline or slua, runs in a session of its own, as a daemon does
# (slua -d, a systemd service): with the kernel's autogroups
# (/proc/sys/kernel/sched_autogroup_enabled) the CPU is then shared between
# the server and wrk, not between their processes one by one, so wrk's
# share, and what it measures, does not depend on how many processes a
# server has.  In wrk's session, a server of eight processes left wrk
# little time to read its answers: slua's tcp+job p50 was twice what it is
# with the server on its own.
serve() {
	local log=$1
	shift
	setsid timeout -k 5 "$SERVER_SECS" "$@" > "$log" 2>&1 &
	srv=$!
	live="$live $srv"
}

# The pid timeout(1) runs for $1.
child_of() {
	pgrep -P "$1" | head -1
}

add() {		# figure value
	if [ -n "$2" ]; then echo "$2" >> "$S/$1"; fi
}

# Microseconds from a wrk latency such as 261.00us, 1.23ms or 1.01s.
wrk_us() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000;
		else if (v ~ /s$/) m = 1000000; else exit 1;
		sub(/[a-z]+$/, "", v); printf "%.0f\n", v * m }'
}

# wrk against $port (with $2 connections, default 16); adds name.rps,
# name.p50, name.p99.
wrk_run() {
	local name=$1 out=$T/wrk.out rps p50 p99 errs
	if ! timeout -k 5 $((WRK_SECS + 20)) wrk -t2 -c"${2:-16}" -d"${WRK_SECS}s" \
	    --latency "http://127.0.0.1:$port/" > "$out" 2>&1; then
		note "$name: wrk failed: $(tail -1 "$out")"
		return
	fi
	rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
	p50=$(wrk_us "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(wrk_us "$(awk '$1 == "99%" { print $2 }' "$out")")
	errs=$(grep -E '^ *(Socket errors|Non-2xx)' "$out" | tr -s ' ')
	if [ -n "$errs" ]; then
		note "$name: wrk saw$(echo "$errs" | tr '\n' ';' | sed 's/;$//')"
	fi
	add "$name.rps" "$rps"
	add "$name.p50" "$p50"
	add "$name.p99" "$p99"
}

# A clean run logs only slua's start and stop: say what else a log holds.
check_log() {	# name log
	local odd
	odd=$(grep -v -E \
	    '^slua: (supervisor: )?(running as root|started on port|stopping)' \
	    "$2" | head -3 | tr '\n' '|')
	if [ -n "$odd" ]; then
		note "$1: the server wrote: $odd"
	fi
}

tcp_one() {	# prefork | slua | slua-job
	local log=$T/$1.log
	port=$(free_port)
	case "$1" in
	prefork)
		serve "$log" "$BENCH/prefork" "$port" "$HANDLERS" ;;
	slua)
		serve "$log" "$SLUA" -p "$port" -l 127.0.0.1 -H "$HANDLERS" \
		    "$DIR/http.lua" ;;
	slua-job)
		serve "$log" "$SLUA" -p "$port" -l 127.0.0.1 -H "$HANDLERS" \
		    -W "$WORKERS" "$DIR/http-job.lua" "$DIR/echo.lua" ;;
	esac
	if ! wait_port "$port"; then
		note "$1: nothing listened on 127.0.0.1:$port within 5 s"
		stop "$srv"
		check_log "$1" "$log"
		return
	fi
	case "$1" in
	prefork)	wrk_run tcp.base ;;
	slua)		wrk_run tcp.slua ;;
	slua-job)	wrk_run tcpjob.slua ;;
	esac
	stop "$srv"
	check_log "$1" "$log"
}

# Run a script that prints "go" and "done" under stopwatch; prints the
# seconds between the two, or nothing (and a note) when the run failed.
timed() {	# name cmd...
	local name=$1 out=$T/timed.out err=$T/timed.err st
	shift
	timeout -k 5 "$RUN_SECS" "$@" 2> "$err" | "$SW" lines > "$out"
	st=${PIPESTATUS[0]}
	if [ "$st" -eq 124 ]; then
		note "$name: still running after $RUN_SECS s; killed"
		return
	fi
	if [ "$st" -ne 0 ] || ! grep -q ' done$' "$out"; then
		note "$name: exit status $st: $(head -3 "$err" | tr '\n' '|')"
		return
	fi
	check_log "$name" "$err"
	awk '$2 == "go" { go = $1 } $2 == "done" { done = $1 }
	    END { printf "%.6f\n", (done - go) / 1e6 }' "$out"
}

# relay.c and gearjobs.c print "<jobs/s> jobs/s <us> us/job".
relay_run() {	# name field cmd...
	local name=$1 field=$2 out
	shift 2
	if ! out=$(timeout -k 5 "$RUN_SECS" "$@" 2>&1); then
		note "$name: $out"
		return
	fi
	echo "$out" | awk -v f="$field" '{ print $f }'
}

gear_run() {
	local log=$T/gearmand.log gport w1 w2 gsrv v
	gport=$(free_port)
	serve "$log" gearmand -p "$gport" -L 127.0.0.1 -l stderr \
	    -P "$T/gearmand.pid" --verbose ERROR
	gsrv=$srv
	if ! wait_port "$gport"; then
		note "gearmand: nothing listened on 127.0.0.1:$gport"
		stop "$gsrv"
		return
	fi
	serve "$T/gw1.log" "$BENCH/gearjobs" worker "$gport"
	w1=$srv
	serve "$T/gw2.log" "$BENCH/gearjobs" worker "$gport"
	w2=$srv
	v=$(relay_run gearmand 1 "$BENCH/gearjobs" client "$gport" \
	    "$GEAR_JOBS" 64)
	add jobs.gear "$v"
	stop "$w1"
	stop "$w2"
	stop "$gsrv"
}

# The shared queue (--queue): jobs/s through one local redis-server, 64
# in flight, a stdio handler instance and two worker-only instances of
# one worker each; beside redis-benchmark's pipelined XADD rate on the
# same redis-server, and gearmand's figure when it is measured.
queue_run() {
	local log=$T/redis.log rport rsrv w1 w2 t v url
	rport=$(free_port)
	url=redis://127.0.0.1:$rport
	serve "$log" redis-server --port "$rport" --bind 127.0.0.1 --save '' \
	    --appendonly no --daemonize no
	rsrv=$srv
	if ! wait_port "$rport"; then
		note "redis-server: nothing listened on 127.0.0.1:$rport"
		stop "$rsrv"
		return
	fi
	v=$(timeout -k 5 "$RUN_SECS" redis-benchmark -p "$rport" -P 32 \
	    -n "$XADDS" --csv XADD bench:xadd MAXLEN '~' 10000 '*' f v |
	    awk -F'"' 'NR == 2 { print $4 }')
	[ -n "$v" ] && add queue.base "$v"
	serve "$T/qw1.log" "$SLUA" --queue "$url" -W 1 --worker "$DIR/echo.lua"
	w1=$srv
	serve "$T/qw2.log" "$SLUA" --queue "$url" -W 1 --worker "$DIR/echo.lua"
	w2=$srv
	t=$(timed queue "$SLUA" --queue "$url" "$DIR/jobs.lua" -- \
	    "$QUEUE_JOBS" 64)
	[ -n "$t" ] && add queue.slua "$(awk -v t="$t" -v n="$QUEUE_JOBS" \
	    'BEGIN { printf "%.0f\n", n / t }')"
	stop "$w1"
	stop "$w2"
	stop "$rsrv"
}

jobs_one() {	# base | slua
	local t
	case "$1" in
	base)
		add jobs.base "$(relay_run relay 1 "$BENCH/relay" jobs "$JOBS" \
		    64 "$WORKERS")" ;;
	slua)
		t=$(timed jobs "$SLUA" -W "$WORKERS" "$DIR/jobs.lua" \
		    "$DIR/echo.lua" -- "$JOBS" 64)
		[ -n "$t" ] && add jobs.slua "$(awk -v t="$t" -v n="$JOBS" \
		    'BEGIN { printf "%.0f\n", n / t }')" ;;
	esac
}

# The status figure: jobs.lua's run in a tcp handler (tcpjobs.lua), without
# --status (base), and with it while scrape.c GETs /metrics every 10 ms
# (slua).  How many scrapes were answered goes under the table.
status_one() {	# base | slua
	local log=$T/status.log sport t scraper="" status=()
	port=$(free_port)
	if [ "$1" = slua ]; then
		sport=$(free_port)
		status=(--status "127.0.0.1:$sport")
	fi
	serve "$log" "$SLUA" -p "$port" -l 127.0.0.1 -H 1 -W "$WORKERS" \
	    "${status[@]}" "$DIR/tcpjobs.lua" "$DIR/echo.lua"
	if ! wait_port "$port"; then
		note "status $1: nothing listened on 127.0.0.1:$port"
		stop "$srv"
		return
	fi
	if [ "$1" = slua ]; then
		timeout -k 5 "$RUN_SECS" "$BENCH/scrape" "$sport" 10 \
		    > "$T/scrapes" &
		scraper=$!
	fi
	t=$(timed "status $1" sh -c "echo '$JOBS 64' |
	    nc -N -w $RUN_SECS 127.0.0.1 $port")
	if [ -n "$scraper" ]; then
		kill "$scraper" 2> /dev/null
		wait "$scraper" 2> /dev/null
		echo "scrapes answered during a jobs run: $(cat "$T/scrapes")" \
		    >> "$T/scrapecounts"
	fi
	stop "$srv"
	check_log "status $1" "$log"
	[ -n "$t" ] && add "status.$1" "$(awk -v t="$t" -v n="$JOBS" \
	    'BEGIN { printf "%.0f\n", n / t }')"
}

latency_one() {
	local t
	case "$1" in
	base)
		add lat.base "$(relay_run relay 3 "$BENCH/relay" jobs \
		    "$LAT_JOBS" 1 "$WORKERS")" ;;
	slua)
		t=$(timed latency "$SLUA" -W "$WORKERS" "$DIR/latency.lua" \
		    "$DIR/echo.lua" -- "$LAT_JOBS")
		[ -n "$t" ] && add lat.slua "$(awk -v t="$t" -v n="$LAT_JOBS" \
		    'BEGIN { printf "%.2f\n", t * 1e6 / n }')" ;;
	esac
}

payload_one() {
	local t
	case "$1" in
	base)
		add payload.base "$(relay_run copy 1 "$BENCH/relay" copy 16 \
		    "$COPY_ROUNDS")" ;;
	slua)
		t=$(timed payload "$SLUA" -W "$WORKERS" "$DIR/payload.lua" \
		    "$DIR/echo.lua" -- "$PAYLOAD_ROUNDS")
		[ -n "$t" ] && add payload.slua "$(awk -v t="$t" \
		    -v r="$PAYLOAD_ROUNDS" \
		    'BEGIN { printf "%.0f\n", 2 * 16 * 1048576 * r / t / 1e6 }')" ;;
	esac
}

start_one() {
	local v
	case "$1" in
	base)	v=$(relay_run "$INTERP -e" 1 "$SW" spawn "$STARTS" \
		    "$INTERP" -e 'print(1)') ;;
	slua)	v=$(relay_run "slua start" 1 "$SW" spawn "$STARTS" \
		    "$SLUA" 'print(1)') ;;
	esac
	[ -n "$v" ] && add "start.$1" "$(awk -v v="$v" \
	    'BEGIN { printf "%.3f\n", v / 1000 }')"
}

cpu_one() {
	local t
	case "$1" in
	base)
		t=$(timed "$INTERP cpubase.lua" "$INTERP" "$DIR/cpubase.lua" \
		    "$CPU_JOBS") ;;
	slua)
		t=$(timed cpu "$SLUA" -W "$WORKERS" "$DIR/jobs.lua" \
		    "$DIR/cpu.lua" -- "$CPU_JOBS" 64) ;;
	esac
	[ -n "$t" ] && add "cpu.$1" "$(awk -v t="$t" -v n="$CPU_JOBS" \
	    'BEGIN { printf "%.0f\n", n / t }')"
}

private_kib() {
	awk '$1 == "Private_Dirty:" { print $2 }' "/proc/$1/smaps_rollup" \
	    2> /dev/null
}

title_of() {
	tr '\0' '\n' < "/proc/$1/cmdline" 2> /dev/null | head -1
}

# The largest idle handler and idle worker, after each served a little.
memory_slua() {
	local log=$T/mem.log sup p kib h=0 w=0 i broker=""
	port=$(free_port)
	serve "$log" "$SLUA" -p "$port" -l 127.0.0.1 -H "$HANDLERS" \
	    -W "$WORKERS" "$DIR/http-job.lua" "$DIR/echo.lua"
	if ! wait_port "$port"; then
		note "memory: nothing listened on 127.0.0.1:$port"
		stop "$srv"
		return
	fi
	for i in $(seq 1 $((4 * HANDLERS))); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" ||
		    note "memory: curl failed"
	done
	sleep 0.5
	sup=$(child_of "$srv")
	for p in $( [ -n "$sup" ] && pgrep -P "$sup"); do
		case "$(title_of "$p")" in
		*handler*)
			kib=$(private_kib "$p")
			[ "${kib:-0}" -gt "$h" ] && h=$kib ;;
		*broker*)
			broker=$p ;;
		esac
	done
	for p in $( [ -n "$broker" ] && pgrep -P "$broker"); do
		kib=$(private_kib "$p")
		[ "${kib:-0}" -gt "$w" ] && w=$kib
	done
	[ "$h" -gt 0 ] && add mem.handler "$h"
	[ "$w" -gt 0 ] && add mem.worker "$w"
	if [ "$h" -eq 0 ] || [ "$w" -eq 0 ]; then
		note "memory: found no handler or no worker under pid $sup"
	fi
	stop "$srv"
	check_log memory "$log"
}

# A bare interpreter with its libraries open, waiting on a read.
memory_base() {
	local fifo=$T/fifo p
	mkfifo "$fifo" || return
	timeout -k 5 "$RUN_SECS" "$INTERP" -e 'io.read()' < "$fifo" &
	p=$!
	live="$live $p"
	exec 9<> "$fifo"
	sleep 0.3
	add mem.base "$(private_kib "$(child_of "$p")")"
	stop "$p"
	exec 9>&-
	rm -f "$fifo"
}

memory_one() {
	case "$1" in
	base)	memory_base ;;
	slua)	memory_slua ;;
	esac
}

# Keep-alive: nginx with its Lua module (2 workers, content_by_lua_block)
# beside slua's client.keepalive() handler with its default -H, the same
# answer, wrk at 64 and 1000 connections.  The module is never installed:
# on Debian 12 it needs OpenResty's LuaJIT, whose package removes luajit,
# libluajit-5.1-dev and wrk.  make bench unpacks it under $BENCH/ngx-lua
# (common/ngxlua.sh), and nginx loads it from there.
NGX_LUA=${NGX_LUA:-$BENCH/ngx-lua}
NGX_ROOT=$NGX_LUA/root
NGX_WHY=""
ngx_why() {
	local abi provides
	if ! command -v nginx > /dev/null; then
		echo "nginx is not installed (make bench installs it)"
		return
	fi
	if [ ! -f "$NGX_ROOT/ok" ]; then
		if [ -s "$NGX_LUA/why" ]; then
			echo "nginx's Lua module: $(head -1 "$NGX_LUA/why")"
		else
			echo "nginx's Lua module is not in $NGX_LUA (make bench" \
			    "fetches it)"
		fi
		return
	fi
	# The module loads only into the nginx it was built for.
	abi=$(sed -n 's/^abi=//p' "$NGX_ROOT/ok")
	provides=$(dpkg-query -W -f='${Provides}' nginx 2> /dev/null)
	case ", $provides," in
	*", $abi,"*|", ,") ;;
	*)	echo "the Lua module in $NGX_LUA is built for $abi; nginx" \
		    "$(dpkg-query -W -f='${Version}' nginx) is not" \
		    "(rm -r $NGX_LUA; make bench)" ;;
	esac
}
NGX_WHY=$(ngx_why)
NGX_LIB=$NGX_ROOT/$(sed -n 's/^lib=//p' "$NGX_ROOT/ok" 2> /dev/null)
NGX_MODS=$NGX_ROOT/usr/lib/nginx/modules

ka_one() {	# base | slua
	local log=$T/ka-$1.log
	port=$(free_port)
	if [ "$1" = base ]; then
		mkdir -p "$T/ngx"
		cat > "$T/ngx.conf" <<NGINX
load_module $NGX_MODS/ndk_http_module.so;
load_module $NGX_MODS/ngx_http_lua_module.so;
worker_processes 2;
daemon off;
pid $T/ngx/nginx.pid;
error_log $T/ngx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	lua_package_path "$NGX_ROOT/usr/share/lua/5.1/?.lua;;";
	client_body_temp_path $T/ngx; proxy_temp_path $T/ngx;
	fastcgi_temp_path $T/ngx; uwsgi_temp_path $T/ngx;
	scgi_temp_path $T/ngx;
	server {
		listen 127.0.0.1:$port;
		location / {
			default_type text/plain;
			content_by_lua_block {
				ngx.header.content_length = 6
				ngx.print("hello\\n")
			}
		}
	}
}
NGINX
		serve "$log" env LD_LIBRARY_PATH="$NGX_LIB" nginx -p "$T/ngx" \
		    -e "$T/ngx/error.log" -c "$T/ngx.conf"
	else
		serve "$log" "$SLUA" -p "$port" -l 127.0.0.1 "$DIR/http-ka.lua"
	fi
	if ! wait_port "$port"; then
		note "keep-alive $1: nothing listened on 127.0.0.1:$port"
		stop "$srv"
		check_log "keep-alive $1" "$log"
		[ "$1" = base ] && check_log "keep-alive nginx" "$T/ngx/error.log"
		return
	fi
	wrk_run "ka64.$1" 64
	wrk_run "ka1000.$1" 1000
	stop "$srv"
	check_log "keep-alive $1" "$log"
	[ "$1" = base ] && check_log "keep-alive nginx" "$T/ngx/error.log"
}

# pair rep fn: fn base and fn slua, baseline first on odd repetitions.
pair() {
	if [ $(($1 % 2)) -eq 1 ]; then "$2" base; "$2" slua
	else "$2" slua; "$2" base; fi
}

GEAR_WHY=""
if ! command -v gearmand > /dev/null; then
	GEAR_WHY="gearmand is not installed (Debian: gearman-job-server)"
elif [ ! -x "$BENCH/gearjobs" ]; then
	GEAR_WHY="libgearman-dev was missing when the baselines were built"
fi

QUEUE_WHY=""
if ! command -v redis-server > /dev/null ||
    ! command -v redis-benchmark > /dev/null; then
	QUEUE_WHY="redis-server is not installed (make deps)"
fi
# BENCH_ONLY=tcp, queue or keepalive: that part alone, printed, RESULTS.md
# left as it is.
ONLY=${BENCH_ONLY:-}
case "$ONLY" in
''|tcp|queue|keepalive) ;;
*)	echo "bench: BENCH_ONLY must be tcp, queue or keepalive" >&2
	exit 100 ;;
esac

echo "bench: $("$SLUA" -V 2>&1 | head -1), $LUA, nproc $NPROC," \
    "$REPS repetitions" >&2
started=$(date +%s)
for rep in $(seq 1 "$REPS"); do
	if [ "$ONLY" = queue ]; then
		echo "bench: repetition $rep of $REPS: queue" >&2
		[ -z "$QUEUE_WHY" ] && queue_run
		continue
	fi
	if [ "$ONLY" = keepalive ]; then
		echo "bench: repetition $rep of $REPS: keep-alive" >&2
		[ -z "$NGX_WHY" ] && pair "$rep" ka_one
		continue
	fi
	echo "bench: repetition $rep of $REPS: tcp" >&2
	if [ $((rep % 2)) -eq 1 ]; then order="prefork slua slua-job"
	else order="slua-job slua prefork"; fi
	for side in $order; do
		tcp_one "$side"
	done
	[ "$ONLY" = tcp ] && continue
	echo "bench: repetition $rep of $REPS: jobs, latency, payload," \
	    "start, cpu, memory" >&2
	pair "$rep" jobs_one
	pair "$rep" status_one
	[ -z "$GEAR_WHY" ] && gear_run
	[ -z "$QUEUE_WHY" ] && queue_run
	pair "$rep" latency_one
	pair "$rep" payload_one
	pair "$rep" start_one
	pair "$rep" cpu_one
	pair "$rep" memory_one
	[ -z "$NGX_WHY" ] && pair "$rep" ka_one
done

median() {	# figure
	[ -s "$S/$1" ] || { echo "-"; return; }
	sort -g "$S/$1" | awk '{ v[NR] = $1 }
	    END { if (NR % 2) m = v[(NR + 1) / 2];
	        else m = (v[NR / 2] + v[NR / 2 + 1]) / 2;
	        print m }'
}

fmt() {		# value decimals
	if [ "$1" = "-" ]; then echo "-"; return; fi
	awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f\n", d, v }'
}

# row label unit slua-figure base-figure decimals op target [third]
# op is ">=" or "<=" on the ratio, "kib" for an absolute ceiling on slua's
# figure in KiB, or "-" for none.  "met" judges the unrounded ratio.
row() {
	local a b r="" ratio="-" target="-" met="-"
	a=$(median "$3")
	b=$(median "$4")
	if [ "$a" != "-" ] && [ "$b" != "-" ]; then
		r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) print a / b }')
		[ -n "$r" ] && ratio=$(fmt "$r" 2)
	fi
	case "$6" in
	">=")	target="≥ $7" ;;
	"<=")	target="≤ $7" ;;
	kib)	target="≤ $7 KiB" ;;
	esac
	case "$6" in
	">="|"<=")
		[ -n "$r" ] && met=$(awk -v r="$r" -v t="$7" -v op="$6" \
		    'BEGIN { ok = op == ">=" ? r >= t : r <= t;
		    print ok ? "yes" : "no" }') ;;
	kib)
		[ "$a" != "-" ] && met=$(awk -v a="$a" -v t="$7" \
		    'BEGIN { print a <= t ? "yes" : "no" }') ;;
	esac
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" \
	    "$(fmt "$a" "$5")" "$(fmt "$b" "$5")" "$ratio" "$target" "$met" \
	    "${8:--}"
}

gear="-"
if [ -z "$GEAR_WHY" ]; then
	gear=$(fmt "$(median jobs.gear)" 0)
fi

table() {
	echo "| figure | unit | slua | baseline | ratio | target | met | gearmand |"
	echo "|---|---|--:|--:|--:|---|---|--:|"
	row "tcp" "req/s" tcp.slua.rps tcp.base.rps 0 ">=" 0.90
	row "tcp p50" "µs" tcp.slua.p50 tcp.base.p50 0 - -
	row "tcp p99" "µs" tcp.slua.p99 tcp.base.p99 0 - -
	row "tcp+job" "req/s" tcpjob.slua.rps tcp.base.rps 0 ">=" 0.60
	row "tcp+job p50" "µs" tcpjob.slua.p50 tcp.base.p50 0 "<=" 2.0
	row "tcp+job p99" "µs" tcpjob.slua.p99 tcp.base.p99 0 - -
	row "jobs, 64 in flight" "jobs/s" jobs.slua jobs.base 0 ">=" 6.0 \
	    "$gear"
	row "jobs, tcp, /metrics every 10 ms" "jobs/s" status.slua status.base \
	    0 ">=" 0.97
	row "jobs via Redis, 64 in flight" "jobs/s" queue.slua queue.base 0 \
	    ">=" 0.25 "$gear"
	row "latency, 1 in flight" "µs/job" lat.slua lat.base 1 "<=" 1.30
	row "payload, 16 MiB each way" "MB/s" payload.slua payload.base 0 \
	    ">=" 0.60
	row "start" "ms" start.slua start.base 2 "<=" 1.50
	row "memory, idle handler" "KiB" mem.handler mem.base 0 kib 1024
	row "memory, idle worker" "KiB" mem.worker mem.base 0 kib 1024
	row "cpu-heavy jobs" "jobs/s" cpu.slua cpu.base 0 - -
	row "keep-alive, 64 connections" "req/s" ka64.slua.rps ka64.base.rps 0 \
	    ">=" 1.0
	row "keep-alive, 1000 connections" "req/s" ka1000.slua.rps \
	    ka1000.base.rps 0 ">=" 1.0
}

section() {
	echo "<!-- bench:$LUA -->"
	echo "## $LUA"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $("$SLUA" -V 2>&1 | head -1)," \
	    "nproc $NPROC, $REPS repetitions (medians), $(($(date +%s) - started)) s."
	echo
	table
	echo
	echo "Baselines, run in turn with slua; every server, baseline or" \
	    "slua, in a session of its own (as a daemon runs), so that the" \
	    "kernel's autogroups share the CPU between it and wrk, whatever" \
	    "its number of processes:"
	echo
	echo "- tcp, tcp+job: regress/bench/prefork.c, $HANDLERS processes" \
	    "(slua: -H $HANDLERS), \`wrk -t2 -c16 -d${WRK_SECS}s --latency\`."
	echo "- jobs, latency: regress/bench/relay.c, client → broker →" \
	    "$WORKERS workers over datagram socketpairs; $JOBS and" \
	    "$LAT_JOBS jobs of 64 bytes."
	echo "- jobs, tcp, /metrics every 10 ms: tcpjobs.lua, the jobs run" \
	    "in a tcp handler, with --status and regress/bench/scrape.c" \
	    "getting /metrics every 10 ms; the baseline is the same without" \
	    "--status."
	[ -s "$T/scrapecounts" ] && echo "  Scrapes answered in each run:" \
	    "$(cut -d: -f2 "$T/scrapecounts" | tr -d ' ' | paste -sd ' ')."
	echo "- payload: relay.c copying 16 MiB through a socketpair in 64 KiB" \
	    "datagrams and back; both directions counted, 10^6 bytes a MB."
	if [ -n "$QUEUE_WHY" ]; then
		echo "- jobs via Redis: not measured: $QUEUE_WHY."
	else
		echo "- jobs via Redis: \`redis-benchmark -P 32\` XADD on the" \
		    "same local redis-server; slua: a handler instance and two" \
		    "worker-only instances of one worker, $QUEUE_JOBS jobs" \
		    "(gearmand's column: its figure above)."
	fi
	echo "- start: \`$INTERP -e 'print(1)'\`, $STARTS runs."
	echo "- memory: Private_Dirty of an idle \`$INTERP\`; the target is" \
	    "absolute."
	echo "- cpu-heavy: cpujob.lua $CPU_JOBS times in one \`$INTERP\`;" \
	    "slua runs it in $WORKERS workers, 64 in flight."
	if [ -n "$NGX_WHY" ]; then
		echo "- keep-alive: not measured: $NGX_WHY."
	else
		echo "- keep-alive: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')" \
		    "with Debian's libnginx-mod-http-lua and OpenResty's" \
		    "LuaJIT unpacked by common/ngxlua.sh, 2 workers," \
		    "\`content_by_lua_block\`, as baseline; slua: http-ka.lua" \
		    "(client.keepalive()), -H $HANDLERS; the same 6-byte body" \
		    "with Content-Length; \`wrk -t2 -c64\` and \`-c1000\`."
	fi
	if [ -n "$GEAR_WHY" ]; then
		echo "- gearmand: not measured: $GEAR_WHY."
	else
		echo "- gearmand: regress/bench/gearjobs.c, $WORKERS C workers," \
		    "batches of 64 tasks, $GEAR_JOBS jobs."
	fi
	if [ -s "$NOTES" ]; then
		echo
		echo "Notes from this run:"
		echo
		sort "$NOTES" | uniq -c | sed 's/^ *\([0-9]*\) /- (×\1) /'
	fi
	echo "<!-- /bench:$LUA -->"
}

section > "$T/section"
if [ -n "$ONLY" ]; then
	sed '/^<!--/d' "$T/section"
	exit 0
fi

# Keep the other flavours' sections; replace this one's.
{
	echo "# slua benchmarks"
	echo
	echo "Written by \`make bench\` (Lua 5.1) and \`make LUA=luajit bench\`" \
	    "(LuaJIT); rerun either to refresh its section, BENCH_REPS=n for" \
	    "more repetitions.  The ratio is slua's figure over the baseline's;" \
	    "the target is the ratio the project aims for."
	for flavour in lua5.1 luajit; do
		echo
		if [ "$flavour" = "$LUA" ]; then
			cat "$T/section"
		elif [ -f "$RESULTS" ]; then
			sed -n "/^<!-- bench:$flavour -->\$/,/^<!-- \/bench:$flavour -->\$/p" \
			    "$RESULTS"
		fi
	done
} | cat -s > "$T/results"
mv "$T/results" "$RESULTS" || exit 111

sed '/^<!--/d' "$T/section"
echo
echo "bench: written to $RESULTS"
