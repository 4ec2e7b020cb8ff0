# stdio mode: a handler on stdin/stdout, the broker, a pool of workers.
. "$(dirname "$0")/lib.sh"

EX="$REGRESS/../conf/examples"
hello="hello world
goodbye world
really, goodbye world"

for n in 1 2 8; do
	good=0
	for i in 1 2 3 4 5; do
		run "$SLUA" -W $n "$EX/hello-handler.lua" "$EX/hello-worker.lua"
		if [ "$rc" = 0 ] && [ "$(cat "$T/out")" = "$hello" ] &&
		    [ ! -s "$T/err" ]; then good=$((good + 1)); fi
	done
	is "$good" 5 "the seed's example, in order, 5 times with $n workers"
done

echo 'while true do work.answer(work.accept() .. "!") end' > "$T/bang.lua"
echo 'while true do local j = work.accept() work.answer(j .. j) end' > "$T/double.lua"

run "$SLUA" 'local s = "a\0b\0" work.submit(s)
local r = work.collect() print(#r, r == s .. "!")' "$T/bang.lua"
check "NUL bytes survive both ways" 0 "5	true" ""

run -t 60 "$SLUA" 'for _, n in ipairs{1024, 1048576, 32 * 1048576} do
  local s = string.rep("ab\0", n / 2):sub(1, n)
  work.submit(s)
  local r = work.collect()
  print(n, #r, r == s .. s)
end' "$T/double.lua"
check "1 KiB, 1 MiB and 32 MiB jobs and answers" 0 "1024	2048	true
1048576	2097152	true
33554432	67108864	true" ""

run -t 60 "$SLUA" --max-jobs 16 -W 2 'for i = 1, 20000 do work.submit(tostring(i)) end
local ok = 0
for i = 1, 20000 do if work.collect() == i .. "!" then ok = ok + 1 end end
print(ok, work.collect())' "$T/bang.lua"
check "20,000 jobs with --max-jobs 16 before any collect" 0 "20000	nil" ""

run "$SLUA" 'local a = work.submit("a")
local b = work.submit("b")
print(type(a), a ~= b)
print(work.collect(b))
print(work.collect(a))
print(work.collect(a))
print(work.collect())' "$T/bang.lua"
check "collect(id), then nothing outstanding" 0 "number	true
b!
a!
nil	no job 1 is outstanding
nil" ""

cat > "$T/slow.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "slow" then os.execute("sleep 0.3") end
  work.answer(j .. "!")
end
LUA
run "$SLUA" -W 2 'local s = work.submit("slow")
local f = work.submit("fast")
local id, a = work.collectany()
print(id == f, a)
id, a = work.collectany()
print(id == s, a)
print(work.collectany())' "$T/slow.lua"
check "collectany: whichever answer is ready first" 0 "true	fast!
true	slow!
nil" ""

run "$SLUA" 'print(work.collect()) print(work.collectany()) print(work.active())' \
    "$T/bang.lua"
check "nothing outstanding: nil at once" 0 "nil
nil
false" ""

cat > "$T/err.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "boom" then error("kaboom") end
  work.answer(j .. "!")
end
LUA
run "$SLUA" -W 1 'work.submit("boom") print(work.collect())
work.submit("ok") print(work.collect())' "$T/err.lua"
check "a worker error fails its job; the worker goes on" 0 \
    "nil	worker error: $T/err.lua:3: kaboom
ok!" "slua: worker: $T/err.lua:3: kaboom"

run "$SLUA" 'work.submit("x") print(work.collect())' \
    'local j = work.accept() work.answer(nil)'
check "a nil answer" 0 "nil" ""

run "$SLUA" 'work.submit("x") print(work.collect())' \
    'while true do print("got " .. work.accept()) end'
check "an unanswered job is answered nil at the next accept" 0 "got x
nil" ""

cat > "$T/kill.lua" <<LUA
while true do
  local j = work.accept()
  if j == "3" and not io.open("$T/killed") then
    io.open("$T/killed", "w"):close()
    os.execute("kill -9 \$PPID")
  end
  work.answer(j .. "!")
end
LUA
run "$SLUA" -W 2 'for i = 1, 6 do work.submit(tostring(i)) end
for i = 1, 6 do print(work.collect()) end
local n = 0
while work.pool() < 2 and n < 200 do os.execute("sleep 0.05") n = n + 1 end
print(work.pool())' "$T/kill.lua"
check "a worker killed mid-job: the job runs again, the pool refills" 0 "1!
2!
3!
4!
5!
6!
2"
like "$(cat "$T/err")" "worker [0-9]+ died: killed by signal 9" "the death is logged"

cat > "$T/poison.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "poison" then os.execute("kill -9 $PPID") end
  work.answer(j .. "!")
end
LUA
run "$SLUA" -W 2 'work.submit("a") work.submit("poison") work.submit("b")
print(work.collect()) print(work.collect()) print(work.collect())' "$T/poison.lua"
check "a poison job fails after killing two workers" 0 "a!
nil	job failed: 2 workers died running it (last killed by signal 9)
b!"

run "$SLUA" --max-job-size 1k 'print(pcall(work.submit, string.rep("x", 1025)))
work.submit(string.rep("x", 1024)) print(work.collect())
work.submit("small") print(work.collect())' "$T/bang.lua"
check "a job over --max-job-size is an error" 0 \
    "false	job too large (1025 bytes; max-job-size is 1024)
nil	worker error: $T/bang.lua:1: answer too large (1025 bytes; max-job-size is 1024)
small!" \
    "slua: worker: $T/bang.lua:1: answer too large (1025 bytes; max-job-size is 1024)"

run "$SLUA" -W 2 'for i = 1, 50 do work.submit(tostring(i)) end' \
    'while true do local j = work.accept() print("job " .. j) work.answer("") end'
sort -n -k2 "$T/out" > "$T/sorted"
seq 1 50 | sed 's/^/job /' > "$T/want"
ok "handler exit: submitted jobs still run to their end" cmp -s "$T/sorted" "$T/want"

run "$SLUA" 'work.submit("x") error("handler fails")' "$T/bang.lua"
check "the handler's error is slua's exit status" 1 ""
is "$(head -1 "$T/err")" "slua: (command line):1: handler fails" "the handler's error"

run "$SLUA" -W 3 'print(work.pool(), work.idle(), work.backlog(), work.active())
work.submit("slow") work.submit("slow") work.submit("slow") work.submit("slow")
os.execute("sleep 0.1")
print(work.pool(), work.idle(), work.backlog(), work.active())
for i = 1, 4 do work.collect() end
print(work.active())' "$T/slow.lua"
check "work.pool, idle, backlog and active" 0 "3	3	0	false
3	0	1	true
false" ""

run "$SLUA" -W 1 'work.submit("x") print(work.collect())' \
    'while true do local j = work.accept()
      work.answer(table.concat({work.pool(), work.idle(), work.backlog()}, " ")) end'
check "work.pool, idle and backlog in a worker" 0 "1 0 0" ""

run "$SLUA" 'local id = work.submit("x") print(id == 1, work.collect())' \
    'while true do local j = work.accept()
      if j == "x" then work.submit("y") else work.answer(j .. "!") end end'
check "submit in a worker forwards: the new job answers the old" 0 "true	y!" ""

run -i "$(printf 'line one\nline two\r\nlast')" "$SLUA" 'while true do local l = client.line() if not l then break end
  client.write("[" .. l .. "]\n") end' "$T/bang.lua"
check "client.line and client.write on stdin/stdout" 0 "[line one]
[line two]
[last]" ""

run -i 'abcdefgh' "$SLUA" 'print(client.read(3)) print(client.read()) print(client.read())' \
    "$T/bang.lua"
check "client.read(n) and client.read()" 0 "abc
defgh
nil" ""

run -i "$(printf '%s\nshort' "$(head -c 200 /dev/zero | tr '\0' x)")" \
    "$SLUA" --max-line 100 'print(client.line()) print(client.line())' "$T/bang.lua"
check "--max-line bounds a line" 0 "nil	line too long
short" ""

run "$SLUA" 'print(client.ip, client.port, client.tls)' "$T/bang.lua"
check "client.ip is nil when stdin is no socket" 0 "nil	nil	false" ""

if command -v socat >/dev/null; then
	port=$(free_port)
	echo 'print(client.ip) print(client.line())' > "$T/peer.lua"
	serve sp socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork \
	    EXEC:"$SLUA $T/peer.lua $T/bang.lua",nofork
	wait_port "$port"
	got=$(echo hi | timeout 10 socat - TCP:127.0.0.1:$port)
	is "$got" "127.0.0.1
hi" "client.ip from getpeername(0) when stdin is a socket"
	stop "$sp"
else
	skip "client.ip under socat" "socat not installed"
fi

run "$SLUA" "$T/bang.lua" missing.lua
check "a missing worker script" 1 "" "slua: missing.lua: No such file or directory"

run "$SLUA" 'print(1)' 'while true do'
check "a worker with a syntax error never starts" 1 "" \
    "slua: (command line):1: 'end' expected near '<eof>'"

run -t 20 "$SLUA" -W 1 'work.submit("x") print(work.collect())' 'os.exit(3)'
check "a worker that dies at start: no hang" 0
# (A sanitizer's leak report at exit may change the status.)
like "$(cat "$T/out")" "^nil	job failed: 2 workers died running it \(last exit status [0-9]+\)$" \
    "the job fails after two deaths"
run -t 20 "$SLUA" -W 1 'os.execute("sleep 1")' 'os.exit(3)'
is "$(grep -o 'next in [0-9]* ms' "$T/err" | head -3 | tr '\n' ,)" \
    "next in 100 ms,next in 200 ms,next in 400 ms," \
    "workers that die at start are restarted with a growing pause"
n=$(grep -cE "died: exit status [0-9]+" "$T/err")
ok "not in a spin ($n restarts in a second)" [ "$n" -lt 8 ]

# Batching: with jobs prefetched, a slow one does not hold back the answer
# of the one before it.
cat > "$T/spin.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "slow" then
    local t = os.time() while os.time() - t < 3 do end
  end
  work.answer(j)
end
LUA
run -t 30 "$SLUA" -W 1 'for i = 1, 200 do work.submit("w") end
for i = 1, 200 do work.collect() end
local t = os.time()
work.submit("fast") work.submit("slow") work.submit("after")
print(work.collect(), os.time() - t <= 1)
print(work.collect(), work.collect())' "$T/spin.lua"
check "a slow prefetched job does not delay the answer before it" 0 "fast	true
slow	after" ""

# Ctrl-C: SIGINT to slua stops everything at once.
perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' "$SLUA" -W 2 \
    'print("started") io.stdout:flush() work.submit("spin") work.collect()' \
    'while true do work.accept() while true do end end' > "$T/int.out" 2>&1 &
pid=$!
n=0
while [ ! -s "$T/int.out" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
kids=$(pgrep -P "$pid" | tr '\n' ' ')
grandkids=""
for k in $kids; do grandkids="$grandkids $(pgrep -P "$k" | tr '\n' ' ')"; done
kill -INT "$pid"
wait "$pid"
status=$?
sleep 0.3
left=""
for p in $kids $grandkids; do
	if kill -0 "$p" 2>/dev/null; then left="$left $p"; fi
done
is "$status" 130 "SIGINT: slua dies of it"
ok "SIGINT: broker and workers ($kids$grandkids) are gone" [ -n "$kids" ] && [ -z "$left" ]

done_testing
