#!/bin/bash
# slua binaries side by side on the paths a busy server takes, in turn,
# each round starting with the next one: keep-alive with -H 4 and wrk
# -c64 (every handler busy, none idle), keep-alive at -c1000, and
# Connection: close.  For each: requests a second, the CPU time (user and
# system, every slua process) per request, and, with perf(1), system
# calls and context switches per request, which a loaded machine moves
# least.  Prints each run (with the load average) and the medians.
#
#   regress/bench/handoff.sh BIN... (ROUNDS=5 SECS=5 CASES="ka64 ka1000 close")
set -u
[ $# -ge 1 ] || { echo "usage: handoff.sh BIN..." >&2; exit 64; }
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
CASES=${CASES:-ka64 ka1000 close}
DIR=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/slua-handoff.XXXXXX")
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$T"' EXIT
ulimit -n 8192

free_port() {
	local p
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		if ! grep -q ":$(printf '%04X' "$p") " /proc/net/tcp \
		    /proc/net/tcp6 2>/dev/null; then echo "$p"; return; fi
	done
}

# CPU ticks used so far by the processes of session $1.
ticks() {
	local p sum=0
	for p in $(ps -o pid= -s "$1"); do
		sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$p/stat" \
		    2>/dev/null || echo 0)))
	done
	echo "$sum"
}

# one binary case: prints "rps us-cpu-per-request syscalls-per-request
# switches-per-request" (the last two 0 without perf).
one() {
	local bin=$1 kase=$2 port script conns t0 t1 out rps perf=""
	port=$(free_port)
	case $kase in
	ka64)	script=http-ka.lua; conns=64 ;;
	ka1000)	script=http-ka.lua; conns=1000 ;;
	close)	script=http.lua; conns=16 ;;
	esac
	setsid "$bin" -p "$port" -l 127.0.0.1 -H 4 "$DIR/$script" \
	    2> "$T/log" &
	srv=$!
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.025
	done
	t0=$(ticks "$srv")
	: > "$T/perf"
	if command -v perf >/dev/null; then
		perf stat -x, -e raw_syscalls:sys_enter,context-switches \
		    -o "$T/perf" -p "$(ps -o pid= -s "$srv" | tr -d ' ' |
		    paste -sd,)" -- sleep "$SECS" 2>/dev/null &
		perf=$!
	fi
	out=$(timeout $((SECS + 30)) wrk -t2 -c"$conns" -d"${SECS}s" \
	    "http://127.0.0.1:$port/" 2>&1)
	[ -z "$perf" ] || wait "$perf"
	t1=$(ticks "$srv")
	kill "$srv"
	wait "$srv" 2>/dev/null
	srv=""
	rps=$(echo "$out" | awk '/^Requests\/sec/ { print int($2) }')
	[ -n "$rps" ] || { echo "0 0 0 0"; return; }
	# ticks are 10 ms; requests = rps * SECS
	echo "$rps $(( (t1 - t0) * 10000 / (rps * SECS) ))" \
	    "$(awk -F, -v n=$((rps * SECS)) '
		$3 ~ /sys_enter/ { s = $1 } $3 ~ /context-switches/ { c = $1 }
		END { printf "%.2f %.3f", s / n, c / n }' "$T/perf")"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

nbin=$#
for r in $(seq "$ROUNDS"); do
	for kase in $CASES; do
		for k in $(seq 0 $((nbin - 1))); do
			i=$(( (r + k) % nbin + 1 ))
			res=$(one "${!i}" "$kase")
			echo "$r $kase $i $res load $(cut -d' ' -f1 /proc/loadavg)" |
			    tee -a "$T/all"
		done
	done
done
echo "median: case binary req/s cpu-us/req syscalls/req switches/req"
for kase in $CASES; do
	for i in $(seq "$nbin"); do
		rps=$(awk -v k="$kase" -v w="$i" \
		    '$2 == k && $3 == w { print $4 }' "$T/all" | median)
		cpu=$(awk -v k="$kase" -v w="$i" \
		    '$2 == k && $3 == w { print $5 }' "$T/all" | median)
		sc=$(awk -v k="$kase" -v w="$i" \
		    '$2 == k && $3 == w { print $6 }' "$T/all" | median)
		cs=$(awk -v k="$kase" -v w="$i" \
		    '$2 == k && $3 == w { print $7 }' "$T/all" | median)
		echo "$kase ${!i} $rps $cpu $sc $cs"
	done
done
