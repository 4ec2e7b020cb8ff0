#!/bin/sh
# make fuzz: run each named libFuzzer target for FUZZ_SECONDS (default 30)
# on a scratch copy of its committed corpus, regress/fuzz/corpus/NAME,
# FUZZ_JOBS of them at a time (default: one per CPU, since each target
# runs on one).
#
#   FUZZ=build/lua5.1-fuzz sh regress/fuzz/run.sh json ipc line config
#
# FUZZ is the directory of the fuzz_NAME binaries.  The scratch corpora,
# the logs and any crashing input stay under $FUZZ/run/ for a look
# afterwards; the tree is never written.  Exits non-zero when a target
# crashes, leaks, times out or runs out of memory.
: "${FUZZ:?FUZZ must name the directory of the fuzz binaries}"
SECS=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-$(nproc 2> /dev/null || echo 1)}
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$FUZZ/run
failed=0

case "$SECS" in
''|*[!0-9]*|0) echo "fuzz: FUZZ_SECONDS must be a positive number" >&2
	exit 2 ;;
esac
case "$JOBS" in
''|*[!0-9]*|0) echo "fuzz: FUZZ_JOBS must be a positive number" >&2
	exit 2 ;;
esac

# fuzz name: one target's run; its exit status goes to $RUN/name/status.
fuzz() {
	bin=$FUZZ/fuzz_$1
	dir=$RUN/$1
	quiet=""
	# The config loader logs every bad file to stderr: -close_fd_mask
	# silences that (libFuzzer and the sanitizers report on a copy).
	[ "$1" = config ] && quiet=-close_fd_mask=2
	# -timeout: an input that takes this long is a hang, so a failure.
	"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
	    $quiet -print_final_stats=1 \
	    -artifact_prefix="$dir/crashes/" "$dir/corpus" \
	    > "$dir/log" 2>&1
	echo $? > "$dir/status"
}

# report name: what the run of one target came to.
report() {
	bin=$FUZZ/fuzz_$1
	dir=$RUN/$1
	status=$(cat "$dir/status")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	inputs=$(ls "$dir/corpus" | wc -l)
	cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1)
	if [ "$status" -eq 0 ]; then
		printf 'fuzz_%-7s %9s runs in %ds, %s, corpus %d -> %d, ok\n' \
		    "$1" "${runs:-?}" "$SECS" "${cov:-cov: ?}" \
		    "$(cat "$dir/seeds")" "$inputs"
		return
	fi
	failed=$((failed + 1))
	printf 'fuzz_%-7s FAILED (status %d)\n' "$1" "$status"
	grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_|artifact_prefix)' \
	    "$dir/log" | sed 's/^/    /'
	for f in "$dir/crashes/"*; do
		[ -f "$f" ] && echo "    input: $f"
	done
	echo "    log: $dir/log; run $bin on the input to see it again"
}

start=$(date +%s)
running=0
for name in "$@"; do
	dir=$RUN/$name
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/crashes"
	cp "$HERE/corpus/$name/"* "$dir/corpus/"
	ls "$dir/corpus" | wc -l > "$dir/seeds"
	fuzz "$name" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait
		running=0
	fi
done
wait
for name in "$@"; do
	report "$name"
done
echo "fuzz: $# targets, $JOBS at a time, in $(($(date +%s) - start))s"
[ "$failed" -eq 0 ]
