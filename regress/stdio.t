# stdio mode: a handler on stdin/stdout, the broker, a pool of workers.
. "$(dirname "$0")/lib.sh"
plan 41

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
ok "handler exit: submitted jobs still run to their end, and slua exits 0" \
    '[ "$rc" = 0 ] && cmp -s "$T/sorted" "$T/want"'

run "$SLUA" 'work.submit("x") error("handler fails")' "$T/bang.lua"
check "the handler's error is slua's exit status" 1 ""
is "$(head -1 "$T/err")" "slua: (command line):1: handler fails" "the handler's error"

# Jobs that wait for $T/release: three at the workers, one in the queue.
cat > "$T/hold.lua" <<LUA
while true do
  local j = work.accept()
  while not io.open("$T/release") do os.usleep(10000) end
  work.answer(j)
end
LUA
run "$SLUA" -W 3 "print(work.pool(), work.idle(), work.backlog(), work.active())
for i = 1, 4 do work.submit('hold') end
local n = 0
while (work.idle() > 0 or work.backlog() < 1) and n < 500 do
  os.usleep(10000) n = n + 1
end
print(work.pool(), work.idle(), work.backlog(), work.active())
io.open('$T/release', 'w'):close()
for i = 1, 4 do work.collect() end
print(work.active())" "$T/hold.lua"
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

run "$SLUA" -W 1 'work.submit("a") print(work.collect()) work.submit("b") print(work.collect())' \
    'local before = tostring(work.job)
    while true do
      local j = work.accept()
      local now = work.job
      work.answer(before .. " " .. now .. " " .. tostring(now == j))
      before = tostring(work.job)
    end'
check "work.job: nil before the first accept, then the last job accept returned" 0 \
    "nil a true
a b true" ""

run "$SLUA" -W 1 'for _, j in ipairs{"a", "f", "b"} do work.submit(j) print(work.collect()) end' \
    'while true do
      local j = work.accept()
      if j == "a" then work.answer("first") work.answer("second") end
      if j == "f" then work.submit("g") work.answer("f!") end
      work.answer(j .. "!")
    end'
check "answering twice, or after a forward, is an error; the job keeps its answer" 0 \
    "first
g!
b!" "slua: worker: (command line):3: work.answer: no job to answer
slua: worker: (command line):4: work.answer: no job to answer"

run "$SLUA" 'print(pcall(work.accept)) print(pcall(work.answer, "x"))
work.submit("x") print(work.collect())' \
    'while true do
      local j = work.accept()
      local _, e1 = pcall(work.collect)
      local _, e2 = pcall(work.collectany)
      work.answer(e1 .. "|" .. e2)
    end'
check "accept and answer are for workers, collect and collectany for handlers" 0 \
    "false	work.accept: only workers accept jobs
false	work.answer: only workers answer jobs
work.collect: only handlers collect|work.collectany: only handlers collect" ""

run "$SLUA" -W 1 'for _, j in ipairs{"a", "boom", "b"} do work.submit(j) print(work.collect()) end' \
    'local fresh = not started
    started = true
    while true do
      local j = work.accept()
      if j == "boom" then error("kaboom") end
      work.answer(j .. " " .. tostring(fresh))
    end'
check "after a worker error its script starts again in a fresh Lua state" 0 \
    "a true
nil	worker error: (command line):5: kaboom
b true" "slua: worker: (command line):5: kaboom"

# The broker killed (by the worker running "kill"): the job at the worker
# and the one queued fail with "broker died", and so does a later submit;
# the broker is not replaced.  The worker then waits to die with its
# broker (PR_SET_PDEATHSIG): an answer it sent would go straight to the
# handler, and might come before the handler sees the broker gone.  It
# must not return either: its script would start again, and might take
# the job queued behind "kill" (a worker holds the next job in advance)
# and answer it in the moment before the kill reaches it.
run "$SLUA" -W 1 'local a = work.submit("a")
print(work.collect(a))
local k = work.submit("kill")
local q = work.submit("queued")
print(work.collect())
local id, r, e = work.collectany()
print(id == q, r, e)
print(work.submit("later"))
print(work.collect(), work.active())' \
    'while true do
      local j = work.accept()
      if j == "kill" then
        os.execute("kill -9 $(ps -o ppid= -p $PPID)")
        while true do os.usleep(100000) end
      end
      work.answer(j .. "!")
    end'
check "the broker killed: its jobs fail with \"broker died\", and later submits" 0 \
    "a!
nil	broker died
true	nil	broker died
nil	broker died
nil	false"

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
	halt "$sp"
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
like "$(cat "$T/out")" "^nil	worker cannot start: exit status [0-9]+$" \
    "the job fails: the worker cannot start"
run -t 20 "$SLUA" -W 1 'os.execute("sleep 3")' 'os.exit(3)'
is "$rc: $(grep -o 'next in [0-9]* ms' "$T/err" | head -3 | tr '\n' ,)" \
    "0: next in 100 ms,next in 200 ms,next in 400 ms," \
    "workers that die at start are restarted with a growing pause"
n=$(grep -cE "died: exit status [0-9]+" "$T/err")
ok "not in a spin ($n restarts in a second)" '[ "$n" -lt 8 ]'

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

# Ctrl-C: SIGINT to slua stops everything at once, the workers too while
# they spin in Lua.
perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' "$SLUA" -W 2 \
    'print("started") io.stdout:flush() work.submit("spin") work.collect()' \
    'while true do work.accept() while true do end end' > "$T/int.out" 2>&1 &
pid=$!
kids() { procs "$pid" broker; procs "$pid" worker; }
wait_for 10 '[ -s "$T/int.out" ] && [ "$(kids | wc -l)" = 3 ]'
kids=$(kids | tr '\n' ' ')
kill -INT "$pid"
wait_for 10 "! alive $pid" || kill -KILL "$pid"
wait "$pid"
status=$?
left() { for p in $kids; do if alive "$p"; then echo "$p"; fi; done; }
wait_for 3 '[ -z "$(left)" ]'
left=$(left | tr '\n' ' ')
[ -n "$left" ] && kill -KILL $left
is "$status" 130 "SIGINT: slua dies of it"
ok "SIGINT: the broker and 2 workers ($kids) are gone (left: $left)" \
    '[ "$(echo $kids | wc -w)" = 3 ] && [ -z "$left" ]'

done_testing
