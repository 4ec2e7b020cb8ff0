#!/bin/sh
# Run every regress/*.t (or those named) against $SLUA; each prints TAP.
# Ends with "N passed, N failed" counting test points.
: "${SLUA:?SLUA must name the slua binary}"
export SLUA
cd "$(dirname "$0")" || exit 1
passed=0
failed=0
skipped=0
log=$(mktemp)
if [ $# -eq 0 ]; then set -- *.t; fi
for t in "$@"; do
	t=${t#regress/}
	start=$(date +%s)
	bash "$t" > "$log" 2>&1
	status=$?
	p=$(grep -c '^ok ' "$log")
	s=$(grep -c '^ok .*# SKIP' "$log")
	f=$(grep -c '^not ok ' "$log")
	plan=$(grep -c '^1\.\.' "$log")
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# died before it could say what failed
	fi
	if [ "$plan" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1	# never finished
	fi
	passed=$((passed + p - s))
	skipped=$((skipped + s))
	failed=$((failed + f))
	printf '%-24s %3d ok %3d failed %3ds\n' "$t" $((p - s)) "$f" \
	    $(($(date +%s) - start))
	if [ "$f" -ne 0 ]; then
		grep -v '^ok ' "$log" | sed 's/^/    /'
	fi
done
rm -f "$log"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
