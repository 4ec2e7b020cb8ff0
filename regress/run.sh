#!/bin/bash
# Run every regress/*.t (or those named) against $SLUA.  Each file prints TAP
# on descriptor 3 and the rest to its log; each runs in a session of its own
# under a time limit (SLUA_TEST_LIMIT, default 300 s).  A file fails when a
# test point fails, when it ran another number of points than it planned, when
# it exits non-zero, when it hits the limit, or when it leaves a process
# behind (in its session, or a slua that detached from it).  Ends with
# "N passed, N failed" counting test points.
: "${SLUA:?SLUA must name the slua binary}"
export SLUA
limit=${SLUA_TEST_LIMIT:-300}
cd "$(dirname "$0")" || exit 1
passed=0
failed=0
skipped=0
tap=$(mktemp)
log=$(mktemp)
trap 'rm -f "$tap" "$log"' EXIT
bin=$(readlink -f "$SLUA")

# Processes running the binary under test, by pid.
ours() {
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$bin" ] && echo "${p#/proc/}"
	done | sort
}

if [ $# -eq 0 ]; then set -- *.t; fi
for t in "$@"; do
	t=${t#regress/}
	start=$(date +%s)
	before=$(ours)
	# setsid does not fork here (a background job leads no group), so
	# $! is the session's id.
	setsid timeout -k 5 "$limit" bash "$t" 3> "$tap" > "$log" 2>&1 &
	sid=$!
	wait "$sid"
	status=$?
	why=""
	[ "$status" -eq 124 ] && why="timed out after $limit s"
	# Zombies are no one's now: they wait for init, not for us.
	n=0
	while left=$(ps -o pid=,stat=,args= -s "$sid" 2>/dev/null |
	    awk '$2 !~ /^Z/') && [ -n "$left" ] && [ $n -lt 30 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if [ -n "$left" ]; then
		pkill -KILL -s "$sid"
		why="$why${why:+; }left behind:
$left"
	fi
	escaped=$(comm -13 <(echo "$before") <(ours) | tr '\n' ' ')
	if [ -n "${escaped// /}" ]; then
		kill -KILL $escaped 2>/dev/null
		why="$why${why:+; }slua left running: $escaped"
	fi
	p=$(grep -c '^ok ' "$tap")
	s=$(grep -c '^ok .*# SKIP' "$tap")
	f=$(grep -c '^not ok ' "$tap")
	planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tap" | head -1)
	if [ -z "$planned" ]; then
		why="$why${why:+; }no plan"
	elif [ "$((p + f))" -ne "$planned" ]; then
		why="$why${why:+; }planned $planned, ran $((p + f))"
	fi
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && [ -z "$why" ]; then
		why="exit status $status"
	fi
	[ -n "$why" ] && f=$((f + 1))
	passed=$((passed + p - s))
	skipped=$((skipped + s))
	failed=$((failed + f))
	printf '%-24s %3d ok %3d failed %3ds\n' "$t" $((p - s)) "$f" \
	    $(($(date +%s) - start))
	if [ "$f" -ne 0 ]; then
		grep -v '^ok ' "$tap" | sed 's/^/    /'
		[ -n "$why" ] && printf '%s\n' "$why" | sed 's/^/    /'
		echo "    -- the end of its log:"
		tail -n 30 "$log" | sed 's/^/    | /'
	fi
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
