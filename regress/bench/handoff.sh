#!/bin/bash
# Two slua binaries side by side on the paths a busy server takes, in
# turn, each round starting with the other one: keep-alive with -H 4 and
# wrk -c64 (every handler busy, none idle), keep-alive at -c1000, and
# Connection: close.  For each: requests a second, and the CPU time
# (user and system, every slua process) per request.  Prints each run
# and the medians.
#
#   regress/bench/handoff.sh OLD NEW [rounds [secs]]
set -u
OLD=${1:?usage: handoff.sh OLD NEW [rounds [secs]]}
NEW=${2:?usage: handoff.sh OLD NEW [rounds [secs]]}
ROUNDS=${3:-5}
SECS=${4:-5}
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

# one binary case: prints "rps us-cpu-per-request".
one() {
	local bin=$1 kase=$2 port script conns t0 t1 out rps
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
	out=$(timeout $((SECS + 30)) wrk -t2 -c"$conns" -d"${SECS}s" \
	    "http://127.0.0.1:$port/" 2>&1)
	t1=$(ticks "$srv")
	kill "$srv"
	wait "$srv" 2>/dev/null
	srv=""
	rps=$(echo "$out" | awk '/^Requests\/sec/ { print int($2) }')
	[ -n "$rps" ] || { echo "0 0"; return; }
	# ticks are 10 ms; requests = rps * SECS
	echo "$rps $(( (t1 - t0) * 10000 / (rps * SECS) ))"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for r in $(seq "$ROUNDS"); do
	for kase in ka64 ka1000 close; do
		if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
		for which in $order; do
			if [ "$which" = old ]; then bin=$OLD; else bin=$NEW; fi
			res=$(one "$bin" "$kase")
			echo "$r $kase $which $res" | tee -a "$T/all"
		done
	done
done
echo "median: case binary req/s cpu-us/req"
for kase in ka64 ka1000 close; do
	for which in old new; do
		rps=$(awk -v k="$kase" -v w="$which" \
		    '$2 == k && $3 == w { print $4 }' "$T/all" | median)
		cpu=$(awk -v k="$kase" -v w="$which" \
		    '$2 == k && $3 == w { print $5 }' "$T/all" | median)
		echo "$kase $which $rps $cpu"
	done
done
