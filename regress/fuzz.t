# The fuzz targets' committed inputs, replayed through the real decoders:
# the seeds, and every input fuzzing once crashed slua with (named crash-*
# in regress/fuzz/corpus/NAME/), each fixed since.  The replay binaries
# sit beside $SLUA (make builds them); under `make sanitize` they carry
# ASan and UBSan, which turn a crash-* input back into a failure.
. "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$SLUA")
# One test point for each seed, and one for each crash below.
plan $(($(find "$REGRESS/fuzz/corpus" -type f ! -name 'crash-*' | wc -l) + 2))
for name in json ipc line config proxy; do
	bin=$BUILD/replay_$name
	for f in "$REGRESS/fuzz/corpus/$name"/*; do
		case $f in */crash-*) continue ;; esac
		if [ ! -x "$bin" ]; then
			skip "fuzz_$name: $(basename "$f")" "no $bin (make regress builds it)"
			continue
		fi
		run "$bin" "$f"
		check "fuzz_$name: $(basename "$f")" 0
	done
done

# Crashes fuzzing found, one test each: what the input is, then the file.
crash() {
	_bin=$BUILD/replay_$1
	if [ ! -x "$_bin" ]; then
		skip "$3" "no $_bin"
		return
	fi
	run "$_bin" "$REGRESS/fuzz/corpus/$1/$2"
	check "$3" 0 "" ""
}

crash ipc crash-empty-fragment \
    "ipc: a first fragment of no bytes, from a broken peer, is no fault"
crash ipc crash-empty-message-fd \
    "ipc: messages after an empty one, from a broken peer, leave no descriptor open"

done_testing
