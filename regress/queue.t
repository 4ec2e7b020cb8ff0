# The job queue on Redis Streams (--queue): a real redis-server on a free
# loopback port, slua instances on this machine as the "hosts" (a stdio
# handler that submits, worker-only instances that run the jobs), the
# failures slua(1) lists under SHARED QUEUE, and what --status shows of
# the shared queue.
. "$(dirname "$0")/lib.sh"
plan 40

need_redis 40 "shared queue"

rport=$(free_port)
URL=redis://127.0.0.1:$rport
# Persistence only where a test is about it: then every write is on disk
# before Redis acknowledges it.
redis_start() {	# [aof]
	if [ "${1:-}" = aof ]; then
		mkdir -p "$T/aof"
		redis_up --appendonly yes --appendfsync always --dir "$T/aof"
	else
		redis_up
	fi
}

# A handler that submits n jobs and checks every answer's bytes: job i is
# binary (NUL bytes, every byte value), job n/2 is 1 MiB; the worker
# answers the job reversed with a NUL and "!" after it.  It prints a
# ledger, then each failure.
cat > "$T/ledger.lua" <<'LUA'
local n = tonumber(arg[1])
local all = {}
for c = 0, 255 do all[#all + 1] = string.char(c) end
all = table.concat(all)
local function job(i)
  if i == math.floor(n / 2) then return string.rep(all, 4096) end
  return "\0" .. i .. "\0" .. all:sub(1 + i % 200, 40 + i % 200)
end
for i = 1, n do work.submit(job(i)) end
local answered, failed, wrong = 0, {}, 0
for i = 1, n do
  local a, err = work.collect()
  if a == job(i):reverse() .. "\0!" then answered = answered + 1
  elseif a == nil and err then failed[#failed + 1] = i .. "\t" .. err
  else wrong = wrong + 1 end
end
print("answered " .. answered .. ", failed " .. #failed .. ", wrong " ..
    wrong .. ", left " .. tostring(work.collect()))
for _, f in ipairs(failed) do print(f) end
LUA
# The worker: each run is a line in $RUNS (its host's file); $SLOW
# microseconds a job; the job "hang" stops its broker (its parent), as a
# host that hangs, and sleeps.
cat > "$T/worker.lua" <<'LUA'
local slow, runs = tonumber(os.getenv("SLOW") or "0"), os.getenv("RUNS")
while true do
  local j = work.accept()
  local f = io.open(runs, "a") f:write(#j, "\n") f:close()
  if j == "hang" then
    os.execute("kill -STOP $(ps -o ppid= -p $PPID)") os.usleep(30000000)
  end
  if slow > 0 then os.usleep(slow) end
  work.answer(j:reverse() .. "\0!")
end
LUA

host() {	# var runs-file args...: a worker-only instance
	_hv=$1 _runs=$2; shift 2
	: > "$_runs"
	serve "$_hv" env RUNS="$_runs" SLOW="${SLOW:-0}" "$SLUA" --queue "$URL" -W 1 \
	    --worker "$T/worker.lua" "$@"
}
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# The command line.
run "$SLUA" --worker "$T/worker.lua"
check "a worker script alone needs --queue" 2 "" \
    "slua: a worker without a handler needs --queue"
run "$SLUA" --queue http://127.0.0.1 "$T/ledger.lua"
check "a URL that is not redis:// or unix: is refused" 2 "" \
    "slua: queue http://127.0.0.1: not redis://host[:port][/db], redis-sentinel://host[:port][,...]/master[/db] or unix:/path"
run "$SLUA" --queue redis://127.0.0.1:99999 "$T/ledger.lua"
check "a bad port is refused" 2 "" \
    "slua: queue redis://127.0.0.1:99999: the port is not 1 to 65535"
run "$SLUA" --queue redis://app:secret@127.0.0.1 "$T/ledger.lua"
check "a password on the command line is refused" 2 "" \
    "slua: queue: a password goes in the config file, not on the command line (ps shows it)"
run "$SLUA" -d --queue "$URL" --worker "$T/none.lua"
check "a worker-only host with -d: a missing script, said before detaching" 1 "" \
    "slua: $T/none.lua: No such file or directory"
run "$SLUA" --queue "$URL" --queue-name 'a b' "$T/ledger.lua"
check "a queue name with a space is refused" 2 "" \
    "slua: queue-name a b: letters, digits and _-.: only"
run env RUNS=/dev/null "$SLUA" --worker "$T/worker.lua" --handler \
    'work.submit("olleh") print(work.collect())'
is "$rc|$(tr '\0' 0 < "$T/out")" "0|hello0!" \
    "--handler and --worker name the scripts, without --queue too"

redis_start

# 5,000 jobs through two worker-only hosts.
host h1 "$T/runs1" 2> "$T/h1.log"
host h2 "$T/runs2" 2> "$T/h2.log"
run -t 120 "$SLUA" --queue "$URL" "$T/ledger.lua" -- 5000
check "5000 jobs, NUL bytes and a 1 MiB job, answered exactly through the shared queue" 0 \
    "answered 5000, failed 0, wrong 0, left nil"
ok "both worker hosts ran jobs" \
    '[ "$(lines "$T/runs1")" -gt 0 ] && [ "$(lines "$T/runs2")" -gt 0 ]'
is "$(($(lines "$T/runs1") + $(lines "$T/runs2")))" 5000 "each job ran once"
wait_for 10 '[ "$(rcli xlen slua:jobs)" -le 1 ]'
ok "answered jobs leave the stream (trimmed once a second)" \
    '[ "$(rcli xlen slua:jobs)" -le 1 ]'

# Handlers on a port, no local workers; work.pool() says so.
port=$(free_port)
start_slua -H 1 --queue "$URL" 'local l = client.line() work.submit(l) print(work.collect(), work.pool())'
is "$(echo olleh | nc -w 10 127.0.0.1 "$port" | tr '\0' '0')" "hello0!	0" \
    "tcp handlers without workers submit to the shared queue"
stop "$srv" "the tcp instance stops on TERM"

# work.backlog() counts the jobs waiting in the shared stream.
run -t 30 "$SLUA" --queue "$URL" --queue-name nobody \
    'for i = 1, 7 do work.submit("x") end
     for i = 1, 250 do if work.backlog() == 7 then break end os.usleep(20000) end
     print(work.backlog(), work.idle(), work.pool())
     io.stdout:flush() os.exit(0)'
check "work.backlog() counts the jobs waiting in the shared stream" 0 "7	0	0"

# Another name: other keys, the same Redis.
serve other "$SLUA" --queue "$URL" --queue-name other "$T/ledger.lua" -- 10 \
    > "$T/other.out"
host h3 "$T/runs3" --queue-name other 2> "$T/h3.log"
wait_for 60 '! kill -0 $other 2>/dev/null'
ok "--queue-name other: its jobs go to the workers of that name" \
    '[ "$(lines "$T/runs3")" = 10 ] && [ "$(rcli exists other:jobs)" = 1 ] && [ "$(head -1 "$T/other.out")" = "answered 10, failed 0, wrong 0, left nil" ]'
halt "$h3"

# A worker host killed, its whole process group, mid-run: the other
# claims its jobs after job-timeout + grace + 2 s.
halt "$h1"; halt "$h2"
SLOW=1000 host h1 "$T/runs1" --job-timeout 1 --grace 0 2> "$T/h1.log"
SLOW=1000 host h2 "$T/runs2" --job-timeout 1 --grace 0 2> "$T/h2.log"
serve sub "$SLUA" --queue "$URL" --job-timeout 1 --grace 0 \
    "$T/ledger.lua" -- 5000 > "$T/sub.out" 2> "$T/sub.err"
wait_for 60 '[ "$(lines "$T/runs2")" -ge 500 ]'
kill -KILL -- -"$h2"
wait_for 120 '! kill -0 $sub 2>/dev/null'
halt "$sub"
is "$(cat "$T/sub.out")" "answered 5000, failed 0, wrong 0, left nil" \
    "a worker host killed mid-run: every job still answered exactly once"
like "$(cat "$T/h1.log")" "queue: claiming jobs of" \
    "the surviving host claimed the dead host's jobs"

# The command connections cut mid-run, while Redis holds writes back
# (CLIENT PAUSE WRITE), so that jobs and answers are on their way: jobs
# not yet acknowledged are sent again, answers not yet written are
# written.
halt "$h1"
SLOW=1000 host h1 "$T/runs1" 2> "$T/h1.log"
SLOW=1000 host h2 "$T/runs2" 2> "$T/h2.log"
serve sub "$SLUA" --queue "$URL" "$T/ledger.lua" -- 3000 > "$T/sub.out" \
    2> "$T/sub.err"
wait_for 60 '[ "$(($(lines "$T/runs1") + $(lines "$T/runs2")))" -ge 300 ]'
for i in 1 2 3; do cutcmd; sleep 0.2; done
# Within 40 s: not by another host's claim, after 60 s.
wait_for 40 '! kill -0 $sub 2>/dev/null'
halt "$sub"
is "$(cat "$T/sub.out")" "answered 3000, failed 0, wrong 0, left nil" \
    "command connections cut mid-run: every job answered exactly"

# Redis killed and restarted mid-run, with appendonly: nothing it
# acknowledged is lost.
halt "$h1"; halt "$h2"
halt "$rds"
redis_start aof
SLOW=1000 host h1 "$T/runs1" 2> "$T/h1.log"
SLOW=1000 host h2 "$T/runs2" 2> "$T/h2.log"
serve sub "$SLUA" --queue "$URL" "$T/ledger.lua" -- 3000 > "$T/sub.out" \
    2> "$T/sub.err"
wait_for 60 '[ "$(($(lines "$T/runs1") + $(lines "$T/runs2")))" -ge 500 ]'
kill -KILL "$rds"
wait_for 10 '! kill -0 $rds 2>/dev/null'
sleep 1	# down for a while: the brokers reconnect with back-off
redis_start aof
wait_for 120 '! kill -0 $sub 2>/dev/null'
halt "$sub"
is "$(cat "$T/sub.out")" "answered 3000, failed 0, wrong 0, left nil" \
    "redis-server killed and restarted mid-run (appendonly): every job answered exactly"
like "$(cat "$T/h1.log")" "queue: connection lost" \
    "the worker host saw the connection go"
like "$(cat "$T/h1.log")" "queue: connected" "and reconnected"

# --status on a tcp host with --queue and no workers of its own: the
# shared queue's gauges, as Redis tells them once a second, read with a
# real parser (python3-prometheus-client) as regress/status.t does.
halt "$h1"; halt "$h2"
port=$(free_port)
sport=$(free_port)
while [ "$sport" = "$port" ]; do sport=$(free_port); done
PY=/usr/bin/python3
cat > "$T/prom.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        lab = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s%s %d" % (s.name, "{%s}" % lab if lab else "", s.value))
PY
scrape() {
	curl -sf -m 10 "http://127.0.0.1:$sport/metrics" > "$T/m.txt" &&
	    "$PY" "$T/prom.py" < "$T/m.txt" > "$T/m.out"
}
v() { awk -v k="$1" '$1 == k { print $2 }' "$T/m.out"; }
m() { scrape && v "$1"; }
ask() { echo "$1" | nc -N -w 30 127.0.0.1 "$port"; }
start_slua -v -H 1 --queue "$URL" --job-timeout 1 --grace 0 \
    --status "127.0.0.1:$sport" 'print(work.collect(work.submit(client.line())))'
wait_for 10 '[ "$(m slua_queue_length)" = 0 ]'
is "$(v slua_queue_depth) $(v slua_queue_length) $(v slua_queue_pending) $(v slua_queue_dead_letters)" \
    "0 0 0 0" "--status with --queue: the shared queue's gauges, all 0"
serve q3 "$SLUA" --queue "$URL" \
    'for i = 1, 3 do work.submit("d" .. i) end for i = 1, 3 do work.collect() end'
wait_for 10 '[ "$(m slua_queue_depth)" = 3 ]'
is "$(v slua_queue_depth) $(v slua_queue_length) $(v slua_queue_pending)" \
    "3 3 0" "3 jobs waiting while no worker host runs: depth 3"
is "$(curl -s -m 10 "http://127.0.0.1:$sport/status" | grep '^Shared queue:')|$(
    curl -s -m 10 "http://127.0.0.1:$sport/status?json" | "$PY" -c '
import json, sys
t = json.load(sys.stdin)["totals"]
print(t["queue_depth"], t["queue_length"], t["queue_pending"], t["queue_dead_letters"])')" \
    "Shared queue: 3 waiting, 0 pending, 0 dead letters; 3 entries in the stream|3 3 0 0" \
    "/status and /status?json say the same"
host h1 "$T/runs1" 2> "$T/h1.log"
wait_for 20 '! kill -0 $q3 2>/dev/null'
wait_for 10 '[ "$(m slua_queue_depth)" = 0 ] && [ "$(v slua_queue_length)" = 0 ]'
is "$(v slua_queue_depth) $(v slua_queue_length) $(v slua_queue_pending) $(lines "$T/runs1")" \
    "0 0 0 3" "a worker host ran them: depth 0"
halt "$h1"

# A job's first host stops, the host that claims it stops too: the job
# was delivered twice without an answer, and fails at its submitter (the
# tcp host) from the dead-letter stream.  When both hosts come back,
# their late answers are dropped: the client sees one outcome.
host h1 "$T/runs1" --job-timeout 1 --grace 0 2> "$T/h1.log"
(ask hang > "$T/sub.out") &
wait_for 20 '[ "$(lines "$T/runs1")" = 1 ]'
b1=$(procs "$h1" broker)
wait_for 10 '[ "$(m slua_queue_pending)" = 1 ]'
is "$(v slua_queue_pending) $(v slua_queue_depth)" "1 0" \
    "--status: the job a stopped worker host holds is pending"
host h2 "$T/runs2" --job-timeout 1 --grace 0 2> "$T/h2.log"
wait_for 20 '[ "$(lines "$T/runs2")" = 1 ]'
b2=$(procs "$h2" broker)
host h3 "$T/runs3" --job-timeout 1 --grace 0 2> "$T/h3.log"
wait_for 20 '[ -s "$T/sub.out" ]'
is "$(cat "$T/sub.out")" \
    "nil	job failed: delivered twice without an answer (its hosts died or stopped)" \
    "a job delivered twice without an answer fails at its submitter"
is "$(rcli xrange slua:dead - + | sed -n 6,7p | tr '\n' ' ')" "d hang " \
    "it is in the dead-letter stream"
wait_for 10 '[ "$(m slua_queue_dead_letters)" = 1 ]'
is "$(v slua_queue_dead_letters) $(v slua_queue_pending) $(v 'slua_jobs_failed_total{reason=dead_letter}')" \
    "1 0 1" "--status: a dead letter, none pending; the submitter counts the failure"
kill -CONT "$b1" "$b2"
wait_for 20 '[ "$(grep -c "dropped: its job was answered already" "$T/log")" = 2 ]'
is "$(grep -c "dropped: its job was answered already" "$T/log")" 2 \
    "the two late answers reached the submitter and were dropped"
is "$(ask ko | tr '\0' '0')" "ok0!" \
    "the next client's job gets its own answer, not a late one"
stop "$h3" "a worker host stops on TERM"
halt "$h1"; halt "$h2"

# A password, from the config file only.
rcli config set requirepass 'pw:x' > /dev/null
printf 'queue = "redis://:pw:x@127.0.0.1:%s"\n' "$rport" > "$T/pw.conf"
run env RUNS=/dev/null "$SLUA" -f "$T/pw.conf" --worker "$T/worker.lua" \
    --handler 'work.submit("olleh") print(work.collect())'
is "$rc|$(tr '\0' 0 < "$T/out")" "0|hello0!" \
    "the config file's queue URL carries the password"
printf 'queue = "redis://:wrong@127.0.0.1:%s"\n' "$rport" > "$T/pw.conf"
run env RUNS=/dev/null "$SLUA" -f "$T/pw.conf" --job-timeout 1 --grace 0 \
    --worker "$T/worker.lua" --handler 'print(work.collect(work.submit("x")))'
like "$rc|$(cat "$T/out")|$(cat "$T/err")" \
    "^0\|nil	queue unavailable\|slua: broker: queue: WRONGPASS" \
    "a wrong password: logged, and the job fails at its deadline"
rcli -a 'pw:x' --no-auth-warning config set requirepass '' > /dev/null

# Redis refuses the job (out of memory): the job fails with its error,
# counted queue_unavailable.
rcli config set maxmemory 1 > /dev/null
rcli config set maxmemory-policy noeviction > /dev/null
like "$(ask x)" "^nil	queue: OOM command not allowed" \
    "Redis refusing a job: it fails with Redis's error"
rcli config set maxmemory 0 > /dev/null
wait_for 10 '[ "$(m "slua_jobs_failed_total{reason=queue_unavailable}")" = 1 ]'
is "$(v 'slua_jobs_failed_total{reason=queue_unavailable}')" 1 \
    "--status counts it queue_unavailable"

# Redis gone: a job waits no longer than its deadline.
halt "$rds"
start=$(now_ms)
run -t 30 "$SLUA" --queue "$URL" --job-timeout 1 --grace 0 \
    'for i = 1, 2 do work.submit("x") end print(work.collect()) print(work.collect())'
check "Redis unreachable: jobs fail \"queue unavailable\" after their deadline" 0 \
    "nil	queue unavailable
nil	queue unavailable" "slua: broker: queue: Connection refused"
ok "within the deadline and a few seconds" '[ $(($(now_ms) - start)) -lt 10000 ]'
is "$(ask x)" "nil	queue unavailable" "the tcp host's job fails the same"
wait_for 10 'scrape && [ "$(v "slua_jobs_failed_total{reason=queue_unavailable}")" = 2 ]'
is "$(v 'slua_jobs_failed_total{reason=queue_unavailable}') $(grep -c '^slua_queue_' "$T/m.out")" \
    "2 0" "--status counts it queue_unavailable; the queue's gauges go with Redis"
halt "$srv"

done_testing
