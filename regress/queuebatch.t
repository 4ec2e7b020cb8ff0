# The shared queue (--queue) in batches: the commands Redis is asked per
# job (counted by INFO commandstats, not timed), and that batching never
# leaves a worker waiting while jobs wait in the stream.
. "$(dirname "$0")/lib.sh"
plan 16

need_redis 16 "shared queue in batches"

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
    '[ "$entries" -ge 1 ] && [ "$entries" -le 1000 ]'
ok "answers go in batches: one MULTI/EXEC for many ($exec for 3000)" \
    '[ "$exec" -ge 1 ] && [ "$exec" -le 1000 ]'
ok "a batch's answers to one submitter are one entry ($((xadd - entries)) for 3000)" \
    '[ $((xadd - entries)) -ge 1 ] && [ $((xadd - entries)) -le "$exec" ]'
ok "jobs are read in batches ($xrg reads for 3000)" \
    '[ "$xrg" -ge 1 ] && [ "$xrg" -le 1000 ]'

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
halt "$rds"
done_testing
