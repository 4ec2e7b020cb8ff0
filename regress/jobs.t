# Every job ends exactly once, within its deadline, whatever a worker does:
# exits, crashes, is killed, stops, never starts, forwards forever.
. "$(dirname "$0")/lib.sh"
plan 44

# Under AddressSanitizer everything is slower, and the leak check at exit
# changes an os.exit status: bounds and expectations say so.
asan=0
grep -q __asan_init "$SLUA" && asan=1
slow() { if [ $asan = 1 ]; then echo $(($1 * 4)); else echo "$1"; fi; }

# A handler that submits n jobs "1".."n" and prints a ledger: answers, then
# each failure as "job<TAB>error", then anything answered wrongly.
cat > "$T/ledger.lua" <<'LUA'
local n = tonumber(arg[1])
for i = 1, n do work.submit(tostring(i)) end
local answered, failed, wrong = 0, {}, 0
for i = 1, n do
  local a, err = work.collect()
  if a == i .. "!" then answered = answered + 1
  elseif a == nil and err then failed[#failed + 1] = i .. "\t" .. err
  else wrong = wrong + 1 end
end
print("answered " .. answered .. ", failed " .. #failed .. ", wrong " .. wrong ..
    ", left " .. tostring(work.collect()))
for _, f in ipairs(failed) do print(f) end
LUA
# The worker: poison jobs (multiples of $POISON, or job $POISON alone when
# ONE is set) end their worker by $HOW; every job counts its runs in $T/runs.
cat > "$T/poison.lua" <<LUA
local how, poison, one = os.getenv("HOW"), tonumber(os.getenv("POISON")), os.getenv("ONE")
while true do
  local j = work.accept()
  local f = io.open("$T/runs", "a") f:write(j, "\n") f:close()
  local n = tonumber(j)
  if (one and n == poison) or (not one and n % poison == 0) then
    if how == "kill" then os.execute("kill -9 \$PPID") else os.exit(1) end
  end
  work.answer(j .. "!")
end
LUA

poisoned() {	# how one|many: 2000 jobs, -W 2
	: > "$T/runs"
	if [ "$2" = one ]; then
		run -t 60 env HOW="$1" POISON=1000 ONE=1 "$SLUA" -W 2 \
		    "$T/ledger.lua" "$T/poison.lua" -- 2000
	else
		run -t 60 env HOW="$1" POISON=50 "$SLUA" -W 2 \
		    "$T/ledger.lua" "$T/poison.lua" -- 2000
	fi
}

poisoned exit one
is "$rc|$(head -1 "$T/out")|$(sed -n 2p "$T/out")" \
    "0|answered 1999, failed 1, wrong 0, left nil|1000	job failed: 2 workers died running it (last exit status 1)" \
    "one poison job that calls os.exit(1), in 2000: it fails, alone"
# Twice alone, once more if its first death was among prefetched jobs.
ok "the poison job ran two or three times" '[ "$(grep -cx 1000 "$T/runs")" -ge 2 ] && [ "$(grep -cx 1000 "$T/runs")" -le 3 ]'
is "$(grep -vx 1000 "$T/runs" | sort | uniq -c | awk '$1 > 2' | wc -l)" 0 \
    "no other job ran more than twice"

poisoned exit many
is "$rc|$(head -1 "$T/out")" "0|answered 1960, failed 40, wrong 0, left nil" \
    "40 poison jobs that call os.exit(1), in 2000: 40 fail"
is "$(sed 1d "$T/out" | cut -f1 | awk '$1 % 50 != 0' | wc -l)" 0 \
    "every failed job is a poison job"

poisoned kill one
is "$rc|$(head -1 "$T/out")|$(sed -n 2p "$T/out")" \
    "0|answered 1999, failed 1, wrong 0, left nil|1000	job failed: 2 workers died running it (last killed by signal 9)" \
    "one poison job that SIGKILLs its worker, in 2000: it fails, alone"

poisoned kill many
is "$rc|$(head -1 "$T/out")" "0|answered 1960, failed 40, wrong 0, left nil" \
    "40 poison jobs that SIGKILL their worker, in 2000: 40 fail"
is "$(sed 1d "$T/out" | cut -f1 | awk '$1 % 50 != 0' | wc -l)" 0 \
    "every failed job is a poison job"

# What a worker answered is not lost by its exit: os.exit, an error after
# answering, the script returning.  Each worker answers three jobs, then
# leaves, so about 70 workers leave in 200 jobs.
for leave in 'os.exit(0)' 'error("after")' 'return'; do
	rm -f "$T/runs"
	run -t 60 "$SLUA" -W 2 "$T/ledger.lua" \
	    "for k = 1, 3 do local j = work.accept()
	      local f = io.open('$T/runs', 'a') f:write(j, '\\n') f:close()
	      work.answer(j .. '!') end $leave" -- 200
	is "$rc|$(cat "$T/out")|$(sort "$T/runs" | uniq | wc -l) $(wc -l < "$T/runs")" \
	    "0|answered 200, failed 0, wrong 0, left nil|200 200" \
	    "workers that answer and then $leave: every answer arrives, each job ran once"
done

# A worker that cannot reach work.accept(): each job fails promptly, with
# the Lua error.
for bad in 'require "no_such_module"' 'error("cannot load")' 'os.exit(3)' 'print("no accept")'; do
	start=$(date +%s%N)
	run -t "$(slow 8)" "$SLUA" -W 2 'for i = 1, 3 do work.submit(tostring(i)) end
for i = 1, 3 do print(work.collect()) end' "$bad"
	ms=$((($(date +%s%N) - start) / 1000000))
	case $bad in
	require*) why="(command line):1: module 'no_such_module' not found:" ;;
	error*) why="(command line):1: cannot load" ;;
	os.exit*) why="exit status 3"; [ $asan = 1 ] && why="exit status" ;;
	*) why="the worker script ended before work.accept()" ;;
	esac
	is "$rc|$(grep -cF "nil	worker cannot start: $why" "$T/out")" "0|3" \
	    "a worker that cannot start ($bad): every job fails, naming why"
	ok "... within 3 s ($ms ms)" '[ "$ms" -lt "$(slow 3000)" ]'
done

# Deadlines the broker keeps: a stopped worker, a worker stuck in C.
cat > "$T/stop.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "stop" then os.execute("kill -STOP $PPID") end
  if j == "stuck" then os.execute("sleep 30") end
  work.answer(j .. "!")
end
LUA
cat > "$T/deadline.lua" <<'LUA'
local clock = function()
  local f = io.open("/proc/uptime") local t = f:read("*n") f:close() return t
end
local t0 = clock()
local first = work.submit(arg[1])
for i = 1, 20 do work.submit(tostring(i)) end
local ok, outcome = 0
for k = 1, 21 do
  local id, a, err = work.collectany()
  if id == first then
    outcome = tostring(a) .. "\t" .. tostring(err) .. "\t" ..
        string.format("%.1f", clock() - t0)
  elseif a == (id - 1) .. "!" then ok = ok + 1 end
end
print(outcome)
print(ok)
LUA
for what in stop stuck; do
	run -t 30 "$SLUA" -W 2 --job-timeout 2 --grace 1 "$T/deadline.lua" "$T/stop.lua" -- "$what"
	secs=$(head -1 "$T/out" | cut -f3)
	is "$rc|$(head -1 "$T/out" | cut -f1,2)|$(sed -n 2p "$T/out")" "0|nil	job timed out|20" \
	    "--job-timeout 2 --grace 1, a worker that gets $what: the job times out, the 20 others are answered"
	ok "... its outcome within 4 s (${secs} s)" '[ -n "$secs" ] && [ "${secs%.*}" -lt 4 ]'
	# A stopped worker cannot time itself out: the broker kills it.
	[ "$what" = stop ] && like "$(cat "$T/err")" \
	    "worker [0-9]+: job 1 past its deadline: killed" \
	    "the broker kills the stopped worker"
done

# The answers to the 20 came while the stopped worker held its job: the
# other worker ran them (collectany takes the first answer).
cat > "$T/other.lua" <<'LUA'
work.submit("stop")
os.execute("sleep 0.2")
for i = 1, 20 do work.submit(tostring(i)) end
local id, a = work.collectany()
print(id, a)
LUA
run -t 30 "$SLUA" -W 2 --job-timeout 2 --grace 1 "$T/other.lua" "$T/stop.lua"
is "$rc|$(cat "$T/out")" "0|2	1!" "jobs do not wait behind a stopped worker while another is idle"

# Forward chains: bounded in depth, and within the first job's deadline.
run -t 20 "$SLUA" -W 2 'work.submit("x") print(work.collect())' \
    'while true do local j = work.accept() work.submit(j) end'
check "a worker that forwards its job to itself: the chain is cut" 0 \
    "nil	job forwarded more than 16 times"
start=$(date +%s%N)
run -t 20 "$SLUA" -W 2 --job-timeout 1 --grace 1 'work.submit("x") print(work.collect())' \
    'while true do local j = work.accept() os.execute("sleep 0.3") work.submit(j) end'
ms=$((($(date +%s%N) - start) / 1000000))
check "a slow forward chain ends at the first job's deadline" 0 "nil	job timed out"
ok "... within job timeout and grace ($ms ms)" '[ "$ms" -lt 3000 ]'

# USR1: one line from every process, busy or not.  Two clients keep both
# handlers busy with jobs until $T/busy goes.
port=$(free_port)
touch "$T/busy"
start_slua -H 2 -W 2 "client.line()
while io.open('$T/busy') do work.submit('x') work.collect() end
print('done')" 'while true do local j = work.accept() local x = 0 for i = 1, 30000 do x = x + i end work.answer(j) end'
serve c1 sh -c "(echo x; sleep 30) | nc 127.0.0.1 $port > $T/client1"
serve c2 sh -c "(echo x; sleep 30) | nc 127.0.0.1 $port > $T/client2"
wait_for 5 '[ "$(ss -Htn state established "( sport = :$port )" | wc -l)" = 2 ]'
for i in $(seq 1 20); do
	kill -USR1 "$srv"
	wait_for 2 '[ "$(grep -c "handler: status" "$T/log")" -ge '$((i * 2))' ] && [ "$(grep -c "worker: status" "$T/log")" -ge '$((i * 2))' ]'
done
is "$(grep -c 'supervisor: status' "$T/log") $(grep -c 'broker: jobs' "$T/log") $(grep -c 'handler: status.*one in progress' "$T/log") $(grep -c 'worker: status' "$T/log")" \
    "20 20 40 40" "20 USR1 with both handlers busy: a line from the supervisor, the broker, both handlers and both workers each time"
rm "$T/busy"
wait_for 10 '[ "$(cat "$T/client1" "$T/client2" | tr "\n" " ")" = "done done " ]'
is "$(cat "$T/client1" "$T/client2" | tr '\n' ' ')" "done done " \
    "then the busy clients are answered"
halt "$c1"
halt "$c2"
stop "$srv" "the server stops on TERM"

# A short chaos run (make chaos runs a long one): workers killed, stopped
# and continued at random while jobs exit their worker or fail.
n=50000
[ $asan = 1 ] && n=5000
run -t 120 bash "$REGRESS/chaos.sh" $n 4
like "$rc|$(cat "$T/out")" "^0\|chaos: $n jobs: $((n - n / 100)) answered, $((n / 100)) failed as meant, 0 innocent failed, 0 wrong, left nil; " \
    "chaos: every job ended once, none failed that should not have"

# Answers of every size to one handler at once: small ones and nil go
# straight from the workers, while the broker sends others in fragments
# (over 64 KiB) or memfds (256 KiB and more) on the same socket.  The
# fragmented ones fill the socket, so the broker often stops mid-message
# and a worker's answer slips in between two fragments.
cat > "$T/mixed.lua" <<'EOF2'
local function want(i)
  local k = i % 4
  if k == 0 then return nil end
  local n = ({ 10, 200000, 300000 })[k]
  return string.rep(string.char(65 + i % 26), n - 8) .. string.format("%8d", i)
end
local N, inflight, ids, good, bad = 2000, 64, {}, 0, 0
local function take()
  local id, r = work.collectany()
  if r == want(ids[id]) then good = good + 1 else bad = bad + 1 end
  ids[id] = nil
end
for i = 1, N do
  ids[work.submit(tostring(i))] = i
  if i > inflight then take() end
end
while work.active() do take() end
print(good, bad)
EOF2
cat > "$T/mixedw.lua" <<'EOF2'
while true do
  local i = tonumber(work.accept())
  local k = i % 4
  if k == 0 then work.answer(nil) else
    local n = ({ 10, 200000, 300000 })[k]
    work.answer(string.rep(string.char(65 + i % 26), n - 8) .. string.format("%8d", i))
  end
end
EOF2
run -t 120 "$SLUA" -W 2 "$T/mixed.lua" "$T/mixedw.lua"
is "$rc|$(cat "$T/out")" "0|2000	0" \
    "answers straight from workers and fragments from the broker mix on one socket"

# A handler that does not read for a while: answers pile up on its socket
# until it is full, and the rest go through the broker; none is lost.
cat > "$T/busy.lua" <<'EOF2'
local N, ids, good = 1000, {}, 0
for i = 1, N do ids[i] = work.submit(tostring(i)) end
os.execute("sleep 1")
for i = 1, N do
  if work.collect(ids[i]) == string.rep("a", 4000) .. i then good = good + 1 end
end
print(good)
EOF2
run -t 60 "$SLUA" -W 2 "$T/busy.lua" 'while true do local j = work.accept() work.answer(string.rep("a", 4000) .. j) end'
is "$rc|$(cat "$T/out")" "0|1000" \
    "answers a busy handler's socket cannot take go through the broker, none lost"

# HUP with a worker that cannot start keeps the running generation; a
# fixed one takes over.
port=$(free_port)
echo 'while true do work.answer("v1 " .. work.accept()) end' > "$T/w.lua"
start_slua -H 2 -W 2 'client.line() work.submit("x") print(work.collect())' "$T/w.lua"
is "$(echo | nc -w 5 -q 2 127.0.0.1 "$port")" "v1 x" "generation 1 serves"
echo 'require "no_such_module" while true do work.answer("v2 " .. work.accept()) end' > "$T/w.lua"
kill -HUP "$srv"
ok "a reload whose worker cannot start fails" \
    'wait_for 10 "grep -q \"reload failed: worker cannot start: $T/w.lua:1: module .no_such_module. not found\" \"$T/log\""'
is "$(echo | nc -w 5 -q 2 127.0.0.1 "$port")" "v1 x" "the running generation goes on"
echo 'while true do work.answer("v3 " .. work.accept()) end' > "$T/w.lua"
kill -HUP "$srv"
wait_for 10 'grep -q "generation 3 started" "$T/log"'
is "$(echo | nc -w 5 -q 2 127.0.0.1 "$port")" "v3 x" "once fixed, a reload takes over"
stop "$srv" "the server stops on TERM after the reloads"

# What a connection submitted and left uncollected is not the next one's.
port=$(free_port)
echo 'while true do work.answer(work.accept()) end' > "$T/w.lua"
start_slua -H 1 -W 1 'local l = client.line()
if l == "leave" then print(work.submit("x"))
elseif l == "any" then print(work.collectany())
elseif l == "both" then work.submit("y") print(work.collect())
else print(work.collect(tonumber(l))) end' "$T/w.lua"
ask() { echo "$1" | nc -w 5 -q 2 127.0.0.1 "$port" | tr '\t' ' '; }
is "$(ask leave)" "1" "a connection leaves its job uncollected"
is "$(ask 1)" "nil no job 1 is outstanding" "the next connection cannot collect it"
is "$(ask any)" "nil" "nor take it with collectany"
is "$(ask both)" "y" "and its own job is answered"
stop "$srv" "the server stops on TERM after the connections"

done_testing
