# Limits and bad input: timeouts, memory, slow clients, descriptors, TLS
# garbage, huge lines.
. "$(dirname "$0")/lib.sh"

EX="$REGRESS/../conf/examples"
port=$(free_port)
url="http://127.0.0.1:$port"
luajit=0
"$SLUA" -V | grep -q LuaJIT && luajit=1

start_slua() {
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 "$@" 2> "$T/log"
	wait_port "$port" || echo "# server did not start"
}
fds() {		# the descriptors of the server and all its descendants
	_n=0
	for p in $srv $(pgrep -P "$srv") $(pgrep -P "$(pgrep -P "$srv" -f 'slua: broker' | head -1)" 2>/dev/null); do
		_n=$((_n + $(ls /proc/$p/fd | wc -l)))
	done
	echo $_n
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

# --handler-timeout: a looping connection is cut, the next one served.
start_slua -H 1 --handler-timeout 1 --grace 1 'local l = client.line()
if l == "loop" then while true do end end
if l == "stuck" then os.execute("sleep 30") end
print("ok " .. l)'
is "$(echo loop | timeout 10 nc -q 3 127.0.0.1 "$port")" "" "--handler-timeout: a looping script is cut"
is "$(echo next | nc -q 1 127.0.0.1 "$port")" "ok next" "the same handler serves the next client"
is "$(echo stuck | timeout 10 nc -q 4 127.0.0.1 "$port")" "" "a script stuck in C is cut after the grace"
sleep 0.3
is "$(echo after | nc -q 1 127.0.0.1 "$port")" "ok after" "a new handler serves the next client"
like "$(cat "$T/log")" "127\.0\.0\.1:[0-9]+: handler timed out" "the timeout is logged"
stop "$srv"

# --max-memory
if [ $luajit = 0 ]; then
	start_slua -H 1 --max-memory 4m 'local l = client.line()
if l == "hog" then local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(64) .. i end end
print("ok " .. l)'
	is "$(echo hog | nc -q 2 127.0.0.1 "$port")" "" "--max-memory: a hog is stopped"
	is "$(echo next | nc -q 1 127.0.0.1 "$port")" "ok next" "the handler serves the next client"
	like "$(cat "$T/log")" "not enough memory" "with Lua's \"not enough memory\""
	stop "$srv"
	run "$SLUA" -W 1 --max-memory 4m 'work.submit("hog") print(work.collect()) work.submit("x") print(work.collect())' \
	    'while true do local j = work.accept() if j == "hog" then local s = "" while true do s = s .. ("x"):rep(1000) end end work.answer(j) end'
	check "--max-memory in a worker: the job fails, the worker goes on" 0 "nil	worker error: not enough memory
x"
else
	for i in 1 2 3 4; do skip "--max-memory" "not with LuaJIT"; done
fi

# Slow clients: every handler held by an idle client.
port=$(free_port)
start_slua -H 2 --timeout 2 'print("hello " .. tostring(client.line()))'
(sleep 5 | nc 127.0.0.1 "$port" > /dev/null) &
(sleep 5 | nc 127.0.0.1 "$port" > /dev/null) &
sleep 0.3
start=$(date +%s%N)
got=$(echo new | timeout 10 nc -N 127.0.0.1 "$port")
ms=$((($(date +%s%N) - start) / 1000000))
is "$got" "hello new" "with every handler held, a new client is answered"
ok "within --timeout ($ms ms)" [ "$ms" -lt 3500 ]
stop "$srv"
wait 2>/dev/null

start_slua -H 2 --max-handlers 250 'print("hello " .. tostring(client.line()))'
for i in $(seq 1 200); do (sleep 6 | nc -N 127.0.0.1 "$port" > /dev/null &) ; done
sleep 1.5
start=$(date +%s%N)
got=$(echo new | nc -N 127.0.0.1 "$port")
ms=$((($(date +%s%N) - start) / 1000000))
is "$got" "hello new" "--max-handlers: with 200 idle clients, a new client is answered"
ok "at once ($ms ms)" [ "$ms" -lt 500 ]
n=$(pgrep -P "$srv" | wc -l)
ok "the pool grew ($n handlers)" [ "$n" -gt 200 ]
sleep 11
n=$(pgrep -P "$srv" | wc -l)
is "$n" 2 "and shrank back once idle"
stop "$srv"

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
curl -s "$url/warm" > /dev/null
before=$(fds)
: > "$T/urls"
for i in $(seq 1 10000); do printf 'url = "%s/%d"\noutput = /dev/null\n' "$url" "$i"; done > "$T/urls"
curl -s --parallel --parallel-max 16 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null
is "$(grep -c '^200$' "$T/codes")" 10000 "10,000 connections answered"
is "$(curl -s "$url/jobs")" "ok" "100,000 jobs through one connection answered"
sleep 0.3
is "$(fds)" "$before" "descriptors after 10,000 connections and 100,000 jobs: as many as before ($before)"
stop "$srv"

# Out of descriptors: accept backs off, and serves again once it can.
port=$(free_port)
start_slua -H 1 'print("ok " .. tostring(client.line()))'
h=$(pgrep -P "$srv")
if prlimit --pid "$h" --nofile="$(ls /proc/$h/fd | wc -l)": 2>/dev/null; then
	(echo x | timeout 5 nc -q 1 127.0.0.1 "$port" > "$T/emfile") &
	client=$!
	sleep 0.3
	t1=$(awk '{print $14 + $15}' /proc/$h/stat)
	sleep 1
	t2=$(awk '{print $14 + $15}' /proc/$h/stat)
	ok "EMFILE: accept backs off instead of spinning ($((t2 - t1)) ticks in 1 s)" [ $((t2 - t1)) -lt 20 ]
	n=$(grep -c "accept (pausing 100 ms): Too many open files" "$T/log")
	ok "EMFILE: logged, at most once a second ($n lines)" [ "$n" -ge 1 ] && [ "$n" -le 3 ]
	prlimit --pid "$h" --nofile=1024:
	wait $client
	is "$(cat "$T/emfile")" "ok x" "EMFILE: the waiting client is served once descriptors are free"
else
	for i in 1 2 3; do skip "EMFILE" "prlimit cannot lower the limit here"; done
fi
stop "$srv"

# TLS garbage: plain text, a truncated handshake, a client that stalls.
port=$(free_port)
url="http://127.0.0.1:$port"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
    -days 2 -subj /CN=localhost 2>/dev/null
start_slua -H 1 --timeout 2 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 'print("tls " .. tostring(client.tls))'
printf 'GET / HTTP/1.0\r\n\r\n' | nc -q 1 127.0.0.1 "$port" > /dev/null
printf '\026\003\001\002\000\001\000\001\374\003\003' | nc -q 0 127.0.0.1 "$port" > /dev/null
(sleep 4 | nc 127.0.0.1 "$port" > /dev/null) &
sleep 0.3
start=$(date +%s%N)
got=$(curl -sk --http0.9 "https://127.0.0.1:$port/")
ms=$((($(date +%s%N) - start) / 1000000))
is "$got" "tls true" "after plain text, a truncated handshake and a stalled one, TLS is served"
ok "the stalled handshake held the handler at most --timeout ($ms ms)" [ "$ms" -lt 3500 ]
like "$(cat "$T/log")" "tls: handshake timeout" "the stalled handshake is logged"
stop "$srv"
wait 2>/dev/null

# A 1 GiB line, 100,000 headers, binary garbage.
port=$(free_port)
url="http://127.0.0.1:$port"
start_slua -H 1 "$EX/http-handler.lua"
hpid=$(pgrep -P "$srv")
head -c 1073741824 /dev/zero | tr '\0' x | timeout 60 nc -q 1 127.0.0.1 "$port" > "$T/big" 2>/dev/null
rss=$(awk '/VmHWM/ {print $2}' /proc/$hpid/status)
ok "a 1 GiB line: the handler's memory stays bounded (peak $rss kB)" [ "$rss" -lt 65536 ]
ok "and the handler lives" kill -0 "$hpid"
{ printf 'GET /h HTTP/1.0\r\n'; for i in $(seq 1 100000); do printf 'X-%d: y\r\n' "$i"; done; printf '\r\n'; } > "$T/headers"
is "$(nc -q 2 127.0.0.1 "$port" < "$T/headers" | tail -1)" "hello /h" "100,000 headers: answered"
head -c 10485760 /dev/urandom | nc -q 1 127.0.0.1 "$port" > /dev/null 2>&1
is "$(curl -s "$url/still")" "hello /still" "binary garbage: the handler still serves"
is "$(pgrep -P "$srv")" "$hpid" "the same handler process all along"
stop "$srv"

done_testing
