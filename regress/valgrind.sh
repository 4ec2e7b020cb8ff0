#!/usr/bin/env bash
# make valgrind: slua's three modes under valgrind's memcheck, every
# process of each (valgrind follows fork(), and exec with
# --trace-children), each process logging to a file of its own:
#
#   normal	a script that calls every built-in library
#   stdio	a handler and two workers: small, fragmented and failing jobs
#   tcp		a supervisor, two handlers, a broker and two workers
#		serving 110 HTTP requests, each with a job; then TERM
#
# Fails when any process has a byte definitely lost, an invalid access
# (or any other memcheck error), ends without its summary, or when a run
# gives the wrong output.  Prints one line per mode.
#
#   SLUA=build/lua5.1/slua bash regress/valgrind.sh
for tool in valgrind curl timeout; do
	if ! command -v "$tool" > /dev/null; then
		echo "valgrind: $tool is not installed (make deps)" >&2
		exit 2
	fi
done
# For $T, free_port, wait_port and the clean-up of servers at exit.
. "$(dirname "$0")/lib.sh"
failed=0

# vg mode: the valgrind command for mode in VG, its logs in $T/mode/.
vg() {
	mkdir -p "$T/$1"
	VG=(valgrind --leak-check=full --show-leak-kinds=definite
	    --errors-for-leak-kinds=definite --error-exitcode=99
	    --trace-children=yes --child-silent-after-fork=no
	    --num-callers=30 --log-file="$T/$1/vg.%p")
}

# What memcheck says of an access it does not like.
BAD='Invalid (read|write|free)|Mismatched free|overlap|uninitialised'
BAD="$BAD|unaddressable"

# report mode status expected-status: one line from mode's logs.
report() {
	_mode=$1 _st=$2 _want=$3 _why=""
	_procs=0 _errs=0 _lost=0 _bad=0 _nosum=0
	for _log in "$T/$_mode"/vg.*; do
		[ -f "$_log" ] || continue
		_procs=$((_procs + 1))
		_e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' \
		    "$_log" | tr -d , | tail -1)
		_l=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' \
		    "$_log" | tr -d , | tail -1)
		_b=$(grep -cE "$BAD" "$_log")
		# A process killed with SIGKILL never writes its summary.
		[ -z "$_e" ] && _nosum=$((_nosum + 1))
		_errs=$((_errs + ${_e:-0}))
		_lost=$((_lost + ${_l:-0}))
		_bad=$((_bad + _b))
	done
	[ "$_procs" -eq 0 ] && _why="$_why, no valgrind logs"
	[ "$_st" != "$_want" ] &&
	    _why="$_why, exit status $_st (expected $_want)"
	[ "$_errs" -ne 0 ] && _why="$_why, $_errs errors"
	[ "$_lost" -ne 0 ] && _why="$_why, $_lost bytes definitely lost"
	[ "$_bad" -ne 0 ] && _why="$_why, $_bad invalid accesses"
	[ "$_nosum" -ne 0 ] && _why="$_why, $_nosum ended without a summary"
	printf '%-7s %2d processes %3d errors %6d bytes definitely lost' \
	    "$_mode" "$_procs" "$_errs" "$_lost"
	printf ' %3d invalid accesses  %s\n' "$_bad" \
	    "$([ -z "$_why" ] && echo ok || echo "FAILED${_why#,}")"
	if [ -n "$_why" ]; then
		failed=$((failed + 1))
		for _log in "$T/$_mode"/vg.*; do
			[ -s "$_log" ] || continue
			echo "    --- $_log"
			head -60 "$_log" | sed 's/^/    /'
		done
	fi
}

# output mode expected: the run's standard output must be expected.
output() {
	if [ "$(cat "$T/$1.out")" != "$2" ]; then
		echo "$1: unexpected output:" >&2
		sed 's/^/    /' "$T/$1.out" >&2
		sed 's/^/    /' "$T/$1.err" >&2
		failed=$((failed + 1))
	fi
}

# Normal mode: one state, every library, errors caught and uncaught.
cat > "$T/normal.lua" <<'LUA'
local t = json.decode('{"a":[1,2.5,"x",null,true],"b":{"c":"\\u00e9"}}')
assert(json.encode(t) == '{"a":[1,2.5,"x",null,true],"b":{"c":"é"}}')
assert(json.decode('[1,2') == nil)
assert(json.encode({f = print}) == nil)
local deep = string.rep("[", 600) .. string.rep("]", 600)
assert(json.decode(deep) == nil)
assert(select(2, ("2024-01-02"):pcrematch("(\\d+)-(\\d+)")) == "2024")
assert(not pcall(string.pcrematch, "x", "("))
assert(#string.sha256("abc") == 64 and #string.md5("") == 32)
assert(#string.sha1("a\0b") == 40 and #string.sha512("x") == 128)
assert(string.iconv("\233t\233", "latin1", "utf-8") == "été")
assert(string.iconv("x", "nonesuch", "utf-8") == nil)
assert(string.epoch("1970-01-02", "%Y-%m-%d") == 86400)
assert(type(io.ls("/")) == "table" and io.ls("/nonexistent") == nil)
assert(io.stat("/").type == "directory")
os.usleep(1000)
assert(not pcall(error, "caught"))
eprint("to stderr")
print("normal ok")
LUA
vg normal
"${VG[@]}" "$SLUA" "$T/normal.lua" > "$T/normal.out" 2> "$T/normal.err"
st=$?
output normal "normal ok"
report normal "$st" 0

# stdio mode: jobs in order, one large enough to travel in fragments,
# one whose worker raises an error, one answered with nil.
cat > "$T/handler.lua" <<'LUA'
local big = string.rep("0123456789abcdef", 20000)
for line in function() return client.line() end do work.submit(line) end
work.submit(big)
for i = 1, 6 do
  local a, err = work.collect()
  print(a and #a > 1000 and #a or a, err and err:match("boom") or err)
end
LUA
cat > "$T/worker.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "boom" then error("boom") end
  if j == "nil" then work.answer(nil) else work.answer(j:upper()) end
end
LUA
printf 'hello\nworld\nboom\nnil\nbye\n' > "$T/stdio.in"
vg stdio
timeout -k 5 300 "${VG[@]}" "$SLUA" -W 2 "$T/handler.lua" "$T/worker.lua" \
    < "$T/stdio.in" > "$T/stdio.out" 2> "$T/stdio.err"
st=$?
output stdio "HELLO	nil
WORLD	nil
nil	boom
nil	nil
BYE	nil
320000	nil"
report stdio "$st" 0

# tcp mode: HTTP with a job per request, then TERM.
cat > "$T/http.lua" <<'LUA'
local request = client.line()
repeat local h = client.line() until h == nil or h == ""
work.submit(request or "")
local body = (work.collect() or "failed") .. "\n"
client.write("HTTP/1.0 200 OK\r\nContent-Length: " .. #body ..
    "\r\nConnection: close\r\n\r\n" .. body)
LUA
port=$(free_port)
vg tcp
serve server "${VG[@]}" "$SLUA" -p "$port" -l 127.0.0.1 -H 2 -W 2 --grace 60 \
    "$T/http.lua" "$T/worker.lua" > "$T/tcp.out" 2> "$T/tcp.err"
# Everything is some twenty times slower under valgrind.
for i in 1 2 3 4 5 6; do
	wait_port "$port" && break
done
: > "$T/tcp.got"
for n in 1 2 3 4 5 6 7 8 9 10; do
	curl -s -m 30 "http://127.0.0.1:$port/$n" >> "$T/tcp.got"
done
# Then 100 more, 8 at a time, so that handlers and workers overlap.
: > "$T/urls"
for n in $(seq 11 110); do
	printf 'url = "http://127.0.0.1:%s/%s"\noutput = /dev/null\n' \
	    "$port" "$n" >> "$T/urls"
done
curl -s -m 60 --parallel --parallel-max 8 -K "$T/urls" \
    -w '%{http_code}\n' > "$T/tcp.codes" 2> /dev/null
kill -TERM "$server"
# valgrind's leak checks take a while in every process.
i=0
while kill -0 "$server" 2> /dev/null && [ $i -lt 1200 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$server"
st=$?
expect=""
for n in 1 2 3 4 5 6 7 8 9 10; do
	expect="$expect${expect:+
}GET /$n HTTP/1.1"
done
if [ "$(cat "$T/tcp.got")" != "$expect" ] ||
    [ "$(grep -c '^200$' "$T/tcp.codes")" -ne 100 ]; then
	echo "tcp: unexpected answers:" >&2
	sed 's/^/    /' "$T/tcp.got" "$T/tcp.codes" "$T/tcp.err" >&2
	failed=$((failed + 1))
fi
report tcp "$st" 0

[ "$failed" -eq 0 ]
