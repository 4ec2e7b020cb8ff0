# Limits and bad input: timeouts, memory, slow clients, descriptors, TLS
# garbage, huge lines.
. "$(dirname "$0")/lib.sh"
plan 52

EX="$REGRESS/../conf/examples"
port=$(free_port)
url="http://127.0.0.1:$port"
luajit=0
"$SLUA" -V | grep -q LuaJIT && luajit=1

fds() {		# the descriptors of the server and all its descendants
	_fdn=0
	for p in $srv $(pgrep -P "$srv") $(procs "$srv" worker); do
		_fdn=$((_fdn + $(ls "/proc/$p/fd" | wc -l)))
	done
	echo $_fdn
}
# send format secs: send printf's format, then wait (at most secs) for the server to
# close the connection; the answer in $T/got, $rc 124 when it stayed open,
# $ms the time it took.
send() {
	_t0=$(now_ms)
	# shellcheck disable=SC2059
	printf "$1" | timeout "$2" nc -N -w 30 127.0.0.1 "$port" > "$T/got"
	rc=$?
	ms=$(($(now_ms) - _t0))
}

# --job-timeout: a loop is interrupted, a worker stuck in C is replaced.
cat > "$T/slow.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "loop" then while true do end end
  if j == "stuck" then os.execute("sleep 30") end
  if j == "caught" then pcall(function() while true do end end) end
  work.answer(j .. "!")
end
LUA
run -t 30 "$SLUA" -W 1 --job-timeout 1 --grace 1 'for _, j in ipairs{"loop", "a", "stuck", "b", "caught", "c"} do
  work.submit(j) print(work.collect()) end' "$T/slow.lua"
check "--job-timeout: jobs fail with \"job timed out\", the next jobs run" 0 "nil	job timed out
a!
nil	job timed out
b!
nil	job timed out
c!"

# --handler-timeout: a looping connection is cut, the next one served.  A
# handler that ignored the limit would hold the connection open: each
# client waits a bounded time for the server to close it.
start_slua -H 1 --handler-timeout 1 --grace 1 'local l = client.line()
if l == "loop" then while true do end end
if l == "stuck" then os.execute("sleep 30") end
print("ok " .. tostring(l))'
h=$(hpids 1)
send 'loop\n' 6
ok "--handler-timeout 1: a looping script is cut, the server closes the connection ($ms ms)" \
    '[ $rc = 0 ] && [ ! -s "$T/got" ] && [ $ms -ge 900 ] && [ $ms -lt 3500 ]'
like "$(cat "$T/log")" "slua: handler: 127\.0\.0\.1:[0-9]+: handler timed out" "the timeout is logged with the client's address"
send 'next\n' 5
is "$rc:$(cat "$T/got")" "0:ok next" "the next client is served"
if [ $luajit = 0 ]; then
	ok "by the same handler process" 'same "$h"'
else
	skip "by the same handler process" "LuaJIT runs the loop compiled, where no hook runs: the last resort ends the handler"
fi
send 'stuck\n' 8
ok "a script stuck in C is cut after the grace ($ms ms)" \
    '[ $rc = 0 ] && [ ! -s "$T/got" ] && [ $ms -ge 1900 ] && [ $ms -lt 5000 ]'
ok "the stuck handler is gone" 'wait_for 5 "! alive \"$h\""'
like "$(cat "$T/log")" "handler $h died: exit status 1" "its death is logged"
send 'after\n' 5
is "$rc:$(cat "$T/got")" "0:ok after" "a new handler serves the next client"
is "$(grep -c 'handler timed out' "$T/log")" 2 "both timeouts are logged"
stop "$srv" "the --handler-timeout server stops on TERM"

# --max-memory
if [ $luajit = 0 ]; then
	start_slua -H 1 --max-memory 4m 'local l = client.line()
if l == "hog" then local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(64) .. i end end
print("ok " .. tostring(l))'
	h=$(hpids 1)
	send 'hog\n' 5
	ok "--max-memory: a hog is stopped and its connection closed" '[ $rc = 0 ] && [ ! -s "$T/got" ]'
	send 'next\n' 5
	is "$(cat "$T/got")" "ok next" "the handler serves the next client"
	ok "the same handler process" 'same "$h"'
	like "$(cat "$T/log")" "not enough memory" "with Lua's \"not enough memory\""
	stop "$srv" "the --max-memory server stops on TERM"
	run "$SLUA" -W 1 --max-memory 4m 'work.submit("hog") print(work.collect()) work.submit("x") print(work.collect())' \
	    'while true do local j = work.accept() if j == "hog" then local s = "" while true do s = s .. ("x"):rep(1000) end end work.answer(j) end'
	check "--max-memory in a worker: the job fails, the worker goes on" 0 "nil	worker error: not enough memory
x"
else
	for i in 1 2 3 4 5 6; do skip "--max-memory" "not with LuaJIT"; done
fi

# Slow clients: every handler held by an idle client.
port=$(free_port)
start_slua -H 2 --timeout 2 'print("hello " .. tostring(client.line()))'
exec 5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port"
ok "two idle clients hold both handlers" 'wait_for 5 "[ \$(accepted) = 2 ]"'
send 'new\n' 8
is "$(cat "$T/got")" "hello new" "with every handler held, a new client is answered"
ok "within --timeout ($ms ms)" '[ "$rc" = 0 ] && [ "$ms" -lt 3500 ]'
is "$(timeout 5 cat <&5)|$(timeout 5 cat <&6)" "hello nil|hello nil" "the idle clients time out"
exec 5<&- 6<&-
stop "$srv" "the slow clients' server stops on TERM"

# --max-handlers: 200 clients that hold their connection until the fifo
# closes, with --greeting, where the script runs at once and waits.
start_slua -H 2 --max-handlers 250 --greeting 'print("hello " .. tostring(client.line()))'
mkfifo "$T/hold"
exec 7<>"$T/hold"
holders=""
for i in $(seq 1 200); do
	nc -N -w 30 127.0.0.1 "$port" < "$T/hold" > /dev/null 7>&- &
	holders="$holders $!"
done
ok "200 idle clients are accepted" 'wait_for 20 "[ \$(accepted) -ge 200 ]"'
send 'new\n' 8
is "$(cat "$T/got")" "hello new" "--max-handlers: with 200 idle clients, a new client is answered"
ok "at once ($ms ms)" '[ "$ms" -lt 500 ]'
# Every child is a handler here (no worker script): pgrep is enough, and
# quick with 200 of them.
n=$(pgrep -c -P "$srv")
ok "the pool grew ($n handlers)" '[ "$n" -gt 200 ]'
t0=$(now_ms)
exec 7>&-	# the clients end
wait $holders	# each bounded by nc -w
ok "and shrank back to -H once idle" 'wait_for 20 "[ \$(pgrep -c -P $srv) = 2 ]"'
ms=$(($(now_ms) - t0))
ok "5 s after their clients left ($ms ms)" '[ "$ms" -ge 4500 ]'
stop "$srv" "the --max-handlers server stops on TERM"

# No descriptor leaks: 10,000 connections and 100,000 jobs.
port=$(free_port)
url="http://127.0.0.1:$port"
cat > "$T/fdh.lua" <<'LUA'
local request = client.line() or ""
repeat local h = client.line() until h == nil or h == ""
local n = 1
if request:match("^GET /jobs ") then n = 100000 end
for i = 1, n do
  work.submit("j")
  if i % 64 == 0 then while work.active() do work.collect() end end
end
local done = 0
while work.active() do if work.collect() then done = done + 1 end end
client.write("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
LUA
start_slua -H 2 -W 2 "$T/fdh.lua" 'while true do work.answer(work.accept()) end'
curl -s -m 10 "$url/warm" > /dev/null
before=$(fds)
for i in $(seq 1 10000); do printf 'url = "%s/%d"\noutput = /dev/null\n' "$url" "$i"; done > "$T/urls"
timeout 120 curl -s -m 10 --parallel --parallel-max 16 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null
is "$(grep -c '^200$' "$T/codes")" 10000 "10,000 connections answered"
is "$(curl -s -m 30 "$url/jobs")" "ok" "100,000 jobs through one connection answered"
wait_for 5 '[ "$(fds)" = "$before" ]'
is "$(fds)" "$before" "descriptors after 10,000 connections and 100,000 jobs: as many as before ($before)"
stop "$srv" "the descriptor server stops on TERM"

# Out of descriptors: accept backs off, and serves again once it can.
port=$(free_port)
start_slua -H 1 'print("ok " .. tostring(client.line()))'
h=$(hpids 1)
emfile="accept (pausing 100 ms): Too many open files"
if [ -n "$h" ] && prlimit --pid "$h" --nofile="$(ls "/proc/$h/fd" | wc -l)": 2>/dev/null; then
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'x\n' >&5
	wait_for 5 'grep -q "$emfile" "$T/log"'
	t0=$(now_ms)
	t1=$(awk '{print $14 + $15}' "/proc/$h/stat")
	sleep 1.8	# accept keeps failing meanwhile
	t2=$(awk '{print $14 + $15}' "/proc/$h/stat")
	n=$(grep -c "$emfile" "$T/log")
	ms=$(($(now_ms) - t0))
	ok "EMFILE: accept backs off instead of spinning ($((t2 - t1)) ticks in $ms ms)" '[ $((t2 - t1)) -lt 30 ]'
	ok "EMFILE: logged once a second ($n lines in $ms ms from the first)" \
	    '[ "$n" -ge 2 ] && [ "$n" -le $((ms / 1000 + 1)) ]'
	prlimit --pid "$h" --nofile=1024:
	is "$(timeout 5 cat <&5)" "ok x" "EMFILE: the waiting client is served once descriptors are free"
	exec 5<&-
else
	for i in 1 2 3; do skip "EMFILE" "prlimit cannot lower the limit here"; done
fi
stop "$srv" "the EMFILE server stops on TERM"

# TLS garbage: plain text, a truncated handshake, a client that stalls.  A
# connection that failed its handshake must be closed by the server.
port=$(free_port)
url="http://127.0.0.1:$port"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
    -days 2 -subj /CN=localhost 2>/dev/null
start_slua -H 1 --timeout 2 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 'print("tls " .. tostring(client.tls))'
h=$(hpids 1)
send 'GET / HTTP/1.0\r\n\r\n' 4
ok "plain text: the server closes the connection ($ms ms)" '[ $rc = 0 ] && [ ! -s "$T/got" ] && [ $ms -lt 1500 ]'
send '\026\003\001\002\000\001\000\001\374\003\003' 4
ok "a truncated handshake: the server closes the connection ($ms ms)" '[ $rc = 0 ] && [ ! -s "$T/got" ] && [ $ms -lt 1500 ]'
t0=$(now_ms)
exec 5<>"/dev/tcp/127.0.0.1/$port"
ok "a stalled handshake holds the handler" 'wait_for 5 "[ \$(accepted) = 1 ]"'
got=$(curl -sk -m 10 --http0.9 "https://127.0.0.1:$port/")
ms=$(($(now_ms) - t0))
is "$got" "tls true" "after plain text, a truncated handshake and a stalled one, TLS is served"
ok "the stalled handshake held the handler at most --timeout ($ms ms)" '[ "$ms" -lt 3500 ]'
timeout 5 cat <&5 > "$T/got"
rc=$?
exec 5<&-
ok "and the server closed the stalled connection" '[ $rc = 0 ] && [ ! -s "$T/got" ]'
like "$(cat "$T/log")" "tls: handshake timeout" "the stalled handshake is logged"
ok "the same handler all along" 'same "$h"'
stop "$srv" "the TLS server stops on TERM"

# A 1 GiB line, 100,000 headers, binary garbage.
port=$(free_port)
url="http://127.0.0.1:$port"
start_slua -H 1 "$EX/http-handler.lua"
hpid=$(hpids 1)
head -c 1073741824 /dev/zero | tr '\0' x | timeout 60 nc -N -w 10 127.0.0.1 "$port" > "$T/big" 2>/dev/null
rss=$(awk '/VmHWM/ {print $2}' "/proc/$hpid/status")
ok "a 1 GiB line: the handler's memory stays bounded (peak $rss kB)" '[ -n "$rss" ] && [ "$rss" -lt 65536 ]'
ok "and the handler lives" 'alive "$hpid"'
{ printf 'GET /h HTTP/1.0\r\n'; for i in $(seq 1 100000); do printf 'X-%d: y\r\n' "$i"; done; printf '\r\n'; } > "$T/headers"
is "$(timeout 30 nc -N -w 10 127.0.0.1 "$port" < "$T/headers" | tail -1)" "hello /h" "100,000 headers: answered"
head -c 10485760 /dev/urandom | timeout 30 nc -N -w 5 127.0.0.1 "$port" > /dev/null 2>&1
is "$(curl -s -m 10 "$url/still")" "hello /still" "binary garbage: the handler still serves"
ok "the same handler process all along" 'same "$hpid"'
stop "$srv" "the big input server stops on TERM"

done_testing
