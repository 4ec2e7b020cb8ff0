# The shared queue (--queue) in batches: the commands Redis is asked per
# job (counted by INFO commandstats, not timed), and that batching never
# leaves a worker waiting while jobs wait in the stream.
. "$(dirname "$0")/lib.sh"
plan 28

need_redis 28 "shared queue in batches"

rport=$(free_port)
URL=redis://127.0.0.1:$rport
redis_up
# calls of a command since the last CONFIG RESETSTAT
calls() {
	rcli info commandstats | tr -d '\r' |
	    sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}

# n jobs, 64 in flight, each answer's bytes checked (NUL bytes and every
# byte value); the worker answers the job reversed.
cat > "$T/jobs.lua" <<'LUA'
local n, all = tonumber(arg[1]), {}
for c = 0, 255 do all[#all + 1] = string.char(c) end
all = table.concat(all)
local function job(i) return "\0" .. i .. all:sub(1 + i % 200, 40 + i % 200) end
local right, sent = 0, 0
local function collect(i)
  if work.collect() == job(i):reverse() then right = right + 1 end
end
for i = 1, n do
  work.submit(job(i))
  if i > 64 then collect(i - 64) end
end
for i = math.max(n - 63, 1), n do collect(i) end
print("right " .. right .. " of " .. n)
LUA
cat > "$T/worker.lua" <<'LUA'
local runs = os.getenv("RUNS")
while true do
  local j = work.accept()
  if j == "slow" or j == "fast" or j == "nap" then
    local f = io.open(runs, "a") f:write(j, "\n") f:close()
  end
  if j == "nap" then os.usleep(200000) end
  if j == "slow" then
    os.usleep(4000000)
    local f = io.open(runs, "a") f:write("slow done\n") f:close()
  end
  work.answer(j:reverse())
end
LUA
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
host() {	# var runs-file args...: a worker-only instance
	_hv=$1 _runs=$2; shift 2
	: > "$_runs"
	serve "$_hv" env RUNS="$_runs" "$SLUA" --queue "$URL" \
	    --worker "$T/worker.lua" "$@"
}

# Two worker-only hosts of one worker each.
host h1 "$T/runs1" -W 1 2> "$T/h1.log"
host h2 "$T/runs2" -W 1 2> "$T/h2.log"
wait_for 10 '[ "$(rcli client list | grep -c "name=slua:jobs ")" -ge 2 ]'
# Jobs that take time are not all held by the first host to read: each
# holds about 2 ms of work a worker, at least 2 jobs (and 2 until a job
# has run).
: > "$T/runs1"
: > "$T/runs2"
run -t 60 "$SLUA" --queue "$URL" \
    'for i = 1, 8 do work.submit("nap") end
     local n = 0
     for i = 1, 8 do if work.collect() == "pan" then n = n + 1 end end
     print(n)'
check "8 jobs of 200 ms answered" 0 "8"
ok "both hosts ran them ($(lines "$T/runs1") and $(lines "$T/runs2"))" \
    '[ "$(lines "$T/runs1")" -ge 2 ] && [ "$(lines "$T/runs2")" -ge 2 ]'
is "$(($(lines "$T/runs1") + $(lines "$T/runs2")))" 8 "each ran once"

# 3000 jobs through them.
: > "$T/runs1"
: > "$T/runs2"
# entries ever added to the jobs stream
added() { rcli xinfo stream slua:jobs | sed -n '/^entries-added$/{n;p;}'; }
added0=$(added)
rcli config resetstat > /dev/null
run -t 120 "$SLUA" --queue "$URL" "$T/jobs.lua" -- 3000
check "3000 jobs, 64 in flight, answered exactly" 0 "right 3000 of 3000"
# Fast jobs travel several to an entry once a host has told their run
# time; the answers of a batch to one submitter are one entry.
xadd=$(calls xadd) exec=$(calls exec) xrg=$(calls xreadgroup)
entries=$(($(added) - added0))
ok "fast jobs travel several to an entry of the jobs stream ($entries for 3000)" \
    '[ "$entries" -ge 1 ] && [ "$entries" -le 2000 ]'
ok "answers go in batches: one MULTI/EXEC for many ($exec for 3000)" \
    '[ "$exec" -ge 1 ] && [ "$exec" -le 1000 ]'
ok "a batch's answers to one submitter are one entry ($((xadd - entries)) for 3000)" \
    '[ $((xadd - entries)) -ge 1 ] && [ $((xadd - entries)) -le "$exec" ]'
ok "jobs are read in batches ($xrg reads for 3000)" \
    '[ "$xrg" -ge 1 ] && [ "$xrg" -le 1000 ]'
pending() { rcli xpending "$1" "$2" | head -1; }
wait_for 10 '[ "$(pending slua:jobs slua)" = 0 ]'
is "$(pending slua:jobs slua)" 0 \
    "every entry is acknowledged once all its answers are in"

stop "$h1" "the first worker host"
stop "$h2" "the second worker host"

# A host of two workers, one busy with a long job, reads the next job
# for the other: a job waiting in the stream does not wait for the first.
host h3 "$T/runs3" -W 2 2> "$T/h3.log"
cat > "$T/slow.lua" <<LUA
work.submit("slow")
for _ = 1, 1000 do	-- until the slow job runs, 10 s at most
  local f = io.open("$T/runs3") local s = f:read("*a") f:close()
  if s:find("slow") then break end
  os.usleep(10000)
end
work.submit("fast")
print(work.collect(), work.collect())
LUA
run -t 60 "$SLUA" --queue "$URL" "$T/slow.lua"
check "both jobs answered" 0 "wols	tsaf"
is "$(tr '\n' ' ' < "$T/runs3")" "slow fast slow done " \
    "the second job ran while the first still did"
stop "$h3" "the host of two workers"

# The answers' format, as a submitter reads it: an entry of its reply
# stream (named in its job's r field) whose field a holds "SEQ KIND
# LEN\n" and LEN bytes for each answer.  One not so is logged, and left.
serve sub "$SLUA" --queue "$URL" --queue-name inj \
    'print(work.submit("x") and work.collect())' > "$T/sub.out" \
    2> "$T/sub.err"
wait_for 10 '[ "$(rcli xlen inj:jobs)" = 1 ]'
entry=$(rcli xrange inj:jobs - +)
reply=$(echo "$entry" | sed -n '/^r$/{n;p;}')
seq=$(echo "$entry" | sed -n '/^s$/{n;p;}')
rcli xadd "$reply" '*' a "$(printf '%s a 99\nshort' "$seq")" > /dev/null
wait_for 10 'grep -q "answers .*: not as written" "$T/sub.err"'
like "$(cat "$T/sub.err")" "slua: broker: queue: answers [0-9]+-[0-9]+: not as written" \
    "a reply entry not as written is logged"
rcli xadd "$reply" '*' a "$(printf '%s a 5\nhello' "$seq")" > /dev/null
wait_for 10 '! kill -0 $sub 2>/dev/null'
is "$(cat "$T/sub.out")" "hello" "an answer written by hand is read as written"
ok "it is the job's seq ($seq) and reply stream ($reply)" \
    '[ "$seq" = 1 ] && echo "$reply" | grep -q "^inj:reply:"'
halt "$sub"

# An entry of several jobs, as a submitter packs them: field j holds
# "SEQ LEN\n" and LEN bytes for each job.  Written by hand here, with a
# reply stream of our own: the answers come back in its field a, and the
# entry is acknowledged.  One not so is logged, and left.
answers() {	# the field a of each entry of a reply stream, in order
	rcli eval "local t = {}
	    for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
	      for i = 1, #e[2], 2 do
	        if e[2][i] == 'a' then t[#t + 1] = e[2][i + 1] end
	      end
	    end
	    return table.concat(t)" 1 "$1"
}
host h4 "$T/runs4" -W 1 --queue-name pk 2> "$T/h4.log"
wait_for 10 '[ "$(rcli exists pk:jobs)" = 1 ]'
rcli xadd pk:jobs '*' r pk:reply:hand j "$(printf '7 5\nolleh11 3\ncba')" \
    > /dev/null
wait_for 10 '[ "$(answers pk:reply:hand)" = "$(printf "7 a 5\nhello11 a 3\nabc")" ]'
is "$(printf %s "$(answers pk:reply:hand)" | tr '\n' '|')" "7 a 5|hello11 a 3|abc" \
    "an entry of two jobs: both run, their answers in the reply stream"
wait_for 10 '[ "$(pending pk:jobs pk)" = 0 ]'
is "$(pending pk:jobs pk)" 0 "and the entry is acknowledged"
rcli xadd pk:jobs '*' r pk:reply:hand j "$(printf '7 9\nshort')" > /dev/null
wait_for 10 'grep -q "entry .* is no job" "$T/h4.log"'
like "$(cat "$T/h4.log")" "slua: broker: queue: entry [0-9]+-[0-9]+ is no job" \
    "an entry of jobs not as written is logged"
halt "$h4"

# A host stops holding an entry of three jobs, at its second: another
# claims the entry (job-timeout 1 + grace 0 + 2 s) and runs it from its
# start; it stops there too, and a third finds the entry delivered twice:
# each of its jobs goes to the dead-letter stream and fails at its
# submitter, and the entry is acknowledged.
cat > "$T/hang.lua" <<'LUA'
while true do
  local j = work.accept()
  local f = io.open(os.getenv("RUNS"), "a") f:write(j, "\n") f:close()
  if j == "hang" then
    os.execute("kill -STOP $(ps -o ppid= -p $PPID)") os.usleep(30000000)
  end
  work.answer(j:reverse())
end
LUA
hanghost() {	# var runs-file
	: > "$2"
	serve "$1" env RUNS="$2" "$SLUA" --queue "$URL" --queue-name pd -W 1 \
	    --job-timeout 1 --grace 0 --worker "$T/hang.lua"
}
hanghost k1 "$T/runs5" 2> "$T/k1.log"
wait_for 10 '[ "$(rcli exists pd:jobs)" = 1 ]'
rcli xadd pd:jobs '*' r pd:reply:hand j "$(printf '1 2\naa2 4\nhang3 2\nbb')" \
    > /dev/null
wait_for 10 'grep -q hang "$T/runs5"'
hanghost k2 "$T/runs6" 2> "$T/k2.log"
wait_for 20 'grep -q hang "$T/runs6"'
is "$(tr '\n' ' ' < "$T/runs5")|$(tr '\n' ' ' < "$T/runs6")" "aa hang |aa hang " \
    "a host stopped holding an entry of three jobs: another claimed it and ran it from its start"
hanghost k3 "$T/runs7" 2> "$T/k3.log"
wait_for 20 '[ "$(rcli xlen pd:dead)" = 3 ]'
is "$(rcli xrange pd:dead - + | sed -n '/^d$/{n;p;}' | tr '\n' ' ')" "aa hang bb " \
    "delivered twice: each of its jobs is an entry of the dead-letter stream"
dead() { answers pd:reply:hand | grep -c "^job failed: delivered twice"; }
wait_for 10 '[ "$(dead)" = 3 ]'
is "$(dead)|$(pending pd:jobs pd)|$(cat "$T/runs7")" "3|0|" \
    "each fails at its submitter, the third host ran none, and the entry is acknowledged"
# The stopped brokers go on, so that their hosts can stop.
kill -CONT $(procs "$k1" broker) $(procs "$k2" broker)
for k in "$k1" "$k2" "$k3"; do halt "$k"; done

# Fast jobs, 64 in flight, until the file $T/stop appears; then the ones
# in flight are collected and checked.  It says "go" once 500 are.
cat > "$T/flow.lua" <<LUA
local all = {}
for c = 0, 255 do all[#all + 1] = string.char(c) end
all = table.concat(all)
local function job(i) return "\0" .. i .. all:sub(1 + i % 200, 40 + i % 200) end
local n, right = 0, 0
local function collect(i)
  if work.collect() == job(i):reverse() then right = right + 1 end
  if i == 500 then print("go") end
end
repeat
  n = n + 1
  work.submit(job(n))
  if n > 64 then collect(n - 64) end
  local f = n % 100 == 0 and io.open("$T/stop")
  if f then f:close() end
until f
for i = n - 63, n do collect(i) end
print("right " .. right .. " of " .. n)
LUA
cat > "$T/pause.lua" <<'LUA'
local at, n = tonumber(os.getenv("PAUSE_AT") or "0"), 0
while true do
  local j = work.accept()
  n = n + 1
  if n == at then
    io.open(os.getenv("MARK"), "w"):close() os.usleep(30000000)
  end
  work.answer(j:reverse())
end
LUA
flow() {	# var: the submitter, its output in $T/flow.out
	rm -f "$T/stop"
	serve "$1" "$SLUA" --queue "$URL" --job-timeout 1 --grace 0 \
	    "$T/flow.lua" > "$T/flow.out" 2> "$T/flow.err"
	wait_for 60 'grep -q go "$T/flow.out"'
}
flowend() {	# var
	touch "$T/stop"
	wait_for 60 '! kill -0 $'"$1"' 2>/dev/null'
	halt "${!1}"
	tail -1 "$T/flow.out"
}
phost() {	# var log args...
	_pv=$1 _pl=$2; shift 2
	serve "$_pv" "$SLUA" --queue "$URL" -W 2 --job-timeout 1 --grace 0 \
	    --worker "$T/pause.lua" "$@" 2> "$_pl"
}

# A host killed while it holds entries of several jobs, some of them
# answered: the other claims them; each job still has one answer.
phost m1 "$T/m1.log"
PAUSE_AT=300 MARK="$T/mark" phost m2 "$T/m2.log"
flow f
wait_for 60 '[ -f "$T/mark" ]'
kill -KILL -- -"$m2"
wait_for 20 'grep -q "claiming jobs of" "$T/m1.log"'
like "$(flowend f)" "^right ([0-9]+) of \\1\$" \
    "a host killed holding entries of fast jobs: each job answered exactly once"
like "$(cat "$T/m1.log")" "queue: claiming jobs of" \
    "the other host claimed its entries"
halt "$m2"

# The command connections cut three times mid-run, while Redis holds
# writes back, so that entries and batches of answers are on their way.
phost m2 "$T/m2.log"
flow f
for i in 1 2 3; do cutcmd; sleep 0.2; done
like "$(flowend f)" "^right ([0-9]+) of \\1\$" \
    "command connections cut mid-run of fast jobs: each job answered exactly once"
wait_for 10 '[ "$(pending slua:jobs slua)" = 0 ]'
is "$(pending slua:jobs slua)" 0 "and every entry acknowledged"
halt "$m1"; halt "$m2"
halt "$rds"

# redis-server killed and restarted mid-run of fast jobs, with
# appendonly: nothing Redis acknowledged is lost.
mkdir -p "$T/aof"
redis_up --appendonly yes --appendfsync always --dir "$T/aof"
phost m1 "$T/m1.log"
phost m2 "$T/m2.log"
flow f
kill -KILL "$rds"
wait_for 10 '! kill -0 $rds 2>/dev/null'
redis_up --appendonly yes --appendfsync always --dir "$T/aof"
like "$(flowend f)" "^right ([0-9]+) of \\1\$" \
    "redis-server killed and restarted mid-run of fast jobs: each job answered exactly once"
halt "$m1"; halt "$m2"
halt "$rds"
done_testing
