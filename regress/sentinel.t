# The shared queue through Redis Sentinel (--queue redis-sentinel://...):
# a master, a replica and three sentinels (quorum 2) on free loopback
# ports, a stdio handler that submits and a worker-only host that runs the
# jobs, both naming the sentinels; the master SIGKILLed mid-run, the
# sentinels fail over, and every job still has exactly one outcome.
# redis-server runs as a sentinel itself (--sentinel): the redis-sentinel
# package is not needed.
. "$(dirname "$0")/lib.sh"
plan 20

need_redis 20 "sentinel"

# Ports that differ from each other.
used=""
port_() {
	while :; do
		_q=$(free_port)
		case " $used " in *" $_q "*) continue ;; esac
		used="$used $_q"
		echo "$_q"
		return
	done
}
mport=$(port_); used="$used $mport"
rport=$(port_); used="$used $rport"
s1=$(port_); used="$used $s1"
s2=$(port_); used="$used $s2"
s3=$(port_); used="$used $s3"
d1=$(port_); used="$used $d1"
d2=$(port_); used="$used $d2"
URL=redis-sentinel://127.0.0.1:$s1,127.0.0.1:$s2,127.0.0.1:$s3/mm
rcli() { _p=$1; shift; timeout 5 redis-cli -p "$_p" "$@" 2>/dev/null; }

# The worker: each run a line in $RUNS; $SLOW microseconds a job.
cat > "$T/worker.lua" <<'LUA'
local slow, runs = tonumber(os.getenv("SLOW") or "0"), os.getenv("RUNS")
while true do
  local j = work.accept()
  local f = io.open(runs, "a") f:write(#j, "\n") f:close()
  if slow > 0 then os.usleep(slow) end
  work.answer(j:reverse() .. "\0!")
end
LUA
# A handler that submits n jobs (binary, NUL bytes) and checks every
# answer's bytes; a ledger, then each failure.
cat > "$T/ledger.lua" <<'LUA'
local n = tonumber(arg[1])
local function job(i) return "\0" .. i .. "\0" .. string.rep("x", i % 300) end
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
# The same, with 64 jobs in flight: it submits as long as it collects.
cat > "$T/flow.lua" <<'LUA'
local n, w = tonumber(arg[1]), 64
local function job(i) return "\0" .. i .. "\0" .. string.rep("y", i % 300) end
for i = 1, math.min(w, n) do work.submit(job(i)) end
local answered, failed, wrong = 0, {}, 0
for i = 1, n do
  local a, err = work.collect()
  if a == job(i):reverse() .. "\0!" then answered = answered + 1
  elseif a == nil and err then failed[#failed + 1] = i .. "\t" .. err
  else wrong = wrong + 1 end
  if i + w <= n then work.submit(job(i + w)) end
end
print("answered " .. answered .. ", failed " .. #failed .. ", wrong " ..
    wrong .. ", left " .. tostring(work.collect()))
for _, f in ipairs(failed) do print(f) end
LUA
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# The command line.
run "$SLUA" --queue redis-sentinel://127.0.0.1:$s1 "$T/ledger.lua"
check "a sentinel URL without a master name is refused" 2 "" \
    "slua: queue redis-sentinel://127.0.0.1:$s1: no /master after the sentinels"
run "$SLUA" --queue "redis-sentinel://127.0.0.1:$s1,,127.0.0.1:$s2/mm" "$T/ledger.lua"
check "an empty sentinel in the list is refused" 2 "" \
    "slua: queue redis-sentinel://127.0.0.1:$s1,,127.0.0.1:$s2/mm: an empty sentinel address"
run "$SLUA" --queue "redis-sentinel://127.0.0.1:0/mm" "$T/ledger.lua"
check "a sentinel's bad port is refused" 2 "" \
    "slua: queue redis-sentinel://127.0.0.1:0/mm: the port of sentinel 127.0.0.1 is not 1 to 65535"
run "$SLUA" --queue "redis-sentinel://app:pw@127.0.0.1:$s1/mm" "$T/ledger.lua"
check "the master's password on the command line is refused" 2 "" \
    "slua: queue: a password goes in the config file, not on the command line (ps shows it)"
run "$SLUA" --queue "$URL" --queue-sentinel-password pw "$T/ledger.lua"
check "the sentinels' password on the command line is refused" 2 "" \
    "slua: queue-sentinel-password: a password goes in the config file, not on the command line (ps shows it)"

# The master, its replica, three sentinels.
serve m redis-server --port "$mport" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --dir "$T"
serve r redis-server --port "$rport" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --dir "$T" --replicaof 127.0.0.1 "$mport"
for s in "$s1" "$s2" "$s3"; do
	cat > "$T/s$s.conf" <<-EOF
	port $s
	bind 127.0.0.1
	daemonize no
	dir $T
	sentinel monitor mm 127.0.0.1 $mport 2
	sentinel down-after-milliseconds mm 1000
	sentinel failover-timeout mm 3000
	EOF
	serve pid redis-server "$T/s$s.conf" --sentinel
done
# Ready: each sentinel knows the replica and the two other sentinels.
ready() {
	for s in "$s1" "$s2" "$s3"; do
		rcli "$s" sentinel master mm | tr '\n' ' ' |
		    grep -q 'num-slaves 1 num-other-sentinels 2 ' || return 1
	done
}
if ! wait_for 10 '[ "$(rcli "$s1" ping)" = PONG ]'; then
	for i in $(seq 15); do skip "sentinel $i" "redis-server --sentinel does not run here"; done
	done_testing
	exit
fi
wait_for 60 ready || diag "the sentinels do not know each other and the replica"

# No sentinel reachable; a master no sentinel knows.
run -t 30 "$SLUA" --queue "redis-sentinel://127.0.0.1:$d1,127.0.0.1:$d2/mm" \
    --job-timeout 1 --grace 0 'print(work.collect(work.submit("x")))'
check "no sentinel reachable: logged, and the job fails at its deadline" 0 \
    "nil	queue unavailable" \
    "slua: broker: queue: no sentinel answered for master mm (127.0.0.1:$d2: Connection refused)"
run -t 30 "$SLUA" --queue "redis-sentinel://127.0.0.1:$s1,127.0.0.1:$s2/nope" \
    --job-timeout 1 --grace 0 'print(work.collect(work.submit("x")))'
check "a master no sentinel knows: logged, and the job fails at its deadline" 0 \
    "nil	queue unavailable" "slua: broker: queue: no sentinel knows master nope"

# Jobs flow through the master the sentinels name; it is SIGKILLed
# mid-run; the sentinels promote the replica and the brokers follow.
: > "$T/runs"
serve h env RUNS="$T/runs" SLOW=2000 "$SLUA" --queue "$URL" -W 2 \
    --worker "$T/worker.lua" 2> "$T/h.log"
serve sub "$SLUA" --queue "$URL" "$T/flow.lua" -- 3000 > "$T/sub.out" \
    2> "$T/sub.err"
wait_for 60 '[ "$(lines "$T/runs")" -ge 300 ]'
# Redis replicates asynchronously: with the replica stopped and its
# socket's buffers filled (32 MB written to the master), what the master
# acknowledges now (jobs, deliveries, answers) dies with it.
kill -STOP "$r"
head -c 32000000 /dev/zero > "$T/junk"
rcli "$mport" -x set junk < "$T/junk" > /dev/null
n0=$(lines "$T/runs")
wait_for 10 '[ "$(lines "$T/runs")" -ge $((n0 + 200)) ]'
kill -KILL "$m"
kill -CONT "$r"
wait_for 120 '! kill -0 $sub 2>/dev/null'
halt "$sub"
is "$(cat "$T/sub.out")" "answered 3000, failed 0, wrong 0, left nil" \
    "the master killed mid-run: after the failover every job answered exactly once"
is "$(rcli "$s1" sentinel get-master-addr-by-name mm | tr '\n' ' ')|$(rcli "$rport" exists junk)" \
    "127.0.0.1 $rport |0" \
    "the sentinels promoted the replica, which lacks what the master took last"
like "$(cat "$T/h.log")" "queue: master mm is at 127.0.0.1:$mport" \
    "the worker host found the master through the sentinels"
like "$(cat "$T/h.log")" "queue: master mm moved to 127.0.0.1:$rport" \
    "the worker host followed the failover"
like "$(cat "$T/sub.err")" "queue: master mm moved to 127.0.0.1:$rport
slua: broker: queue: [0-9]+ jobs not yet answered go to the new master again" \
    "and so did the submitter, which sent its unanswered jobs again"
diag "runs: $(lines "$T/runs") for 3000 jobs"

# After the failover, jobs flow again (the worker host as it was).
run -t 60 "$SLUA" --queue "$URL" "$T/ledger.lua" -- 500
check "after the failover, new jobs are answered exactly" 0 \
    "answered 500, failed 0, wrong 0, left nil"

# A sentinel with a password of its own, from slua.conf only.
s4=$(port_); used="$used $s4"
cat > "$T/s$s4.conf" <<EOF
port $s4
bind 127.0.0.1
daemonize no
dir $T
requirepass sentinel:pw
sentinel monitor mm 127.0.0.1 $rport 2
EOF
serve pid redis-server "$T/s$s4.conf" --sentinel
wait_for 10 '[ "$(rcli "$s4" -a sentinel:pw --no-auth-warning ping)" = PONG ]'
printf 'queue = "redis-sentinel://127.0.0.1:%s/mm"\nqueue_sentinel_password = "sentinel:pw"\n' \
    "$s4" > "$T/pw.conf"
run -t 30 "$SLUA" -f "$T/pw.conf" --handler \
    'work.submit("olleh") print(work.collect())'
is "$rc|$(tr '\0' 0 < "$T/out")" "0|hello0!" \
    "queue_sentinel_password in slua.conf: the sentinel answers"
printf 'queue = "redis-sentinel://127.0.0.1:%s/mm"\nqueue_sentinel_password = "wrong"\n' \
    "$s4" > "$T/pw.conf"
run -t 30 "$SLUA" -f "$T/pw.conf" --job-timeout 1 --grace 0 --handler \
    'print(work.collect(work.submit("x")))'
like "$rc|$(cat "$T/out")|$(cat "$T/err")" \
    "^0\|nil	queue unavailable\|slua: broker: queue: no sentinel answered for master mm \(127.0.0.1:$s4: WRONGPASS" \
    "a wrong sentinel password: logged, and the job fails at its deadline"

stop "$h" "the worker host stops on TERM"

# A master that becomes a replica under a broker's feet: what it refuses
# (-READONLY) counts as a lost connection, not as the job's failure; the
# broker asks again, and ROLE says the address is no master.  A fake
# sentinel (socat) names a standalone Redis, which is then made a replica.
a1=$(port_); used="$used $a1"
a2=$(port_); used="$used $a2"
f=$(port_); used="$used $f"
for p in "$a1" "$a2"; do
	serve pid redis-server --port "$p" --bind 127.0.0.1 --save '' \
	    --appendonly no --daemonize no --dir "$T"
done
fake() {	# port master-port: a sentinel that names 127.0.0.1:master-port
	printf '*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%s\r\n' "${#2}" "$2" \
	    > "$T/fake$1"
	serve pid socat "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" \
	    SYSTEM:"cat $T/fake$1; sleep 1"
}
fake "$f" "$a1"
wait_for 10 '[ "$(rcli "$a2" ping)" = PONG ] && [ "$(rcli "$a1" ping)" = PONG ]'
serve sub "$SLUA" --queue "redis-sentinel://127.0.0.1:$f/mm" --job-timeout 2 \
    --grace 0 "repeat os.usleep(20000) until io.open('$T/go')
    print(work.collect(work.submit('x')))" > "$T/sub.out" 2> "$T/sub.err"
wait_for 20 'rcli "$a1" client list | grep -q "name=slua:cmd"'
rcli "$a1" replicaof 127.0.0.1 "$a2" > /dev/null
: > "$T/go"
wait_for 30 '! kill -0 $sub 2>/dev/null'
halt "$sub"
is "$(cat "$T/sub.out")" "nil	queue unavailable" \
    "a master turned replica: the job is not failed with -READONLY, but waits for a master until its deadline"
ok "-READONLY makes the broker ask the sentinels again; ROLE then refuses the replica" \
    'grep -q "^slua: broker: queue: READONLY You can.t write against a read only replica.*: asking the sentinels again$" "$T/sub.err" && grep -qx "slua: broker: queue: 127.0.0.1:$a1 is not master mm (slave): asking the sentinels again" "$T/sub.err"'

# The URL's password and database are the master's.
f2=$(port_); used="$used $f2"
fake "$f2" "$a2"
rcli "$a2" config set requirepass 'pw:x' > /dev/null
printf 'queue = "redis-sentinel://:pw:x@127.0.0.1:%s/mm/3"\n' "$f2" > "$T/pw.conf"
run -t 30 env RUNS=/dev/null "$SLUA" -f "$T/pw.conf" --worker "$T/worker.lua" \
    --handler 'work.submit("olleh") print(work.collect())'
is "$rc|$(tr '\0' 0 < "$T/out")|$(rcli "$a2" -a pw:x --no-auth-warning -n 3 exists slua:jobs)$(rcli "$a2" -a pw:x --no-auth-warning exists slua:jobs)" \
    "0|hello0!|10" "the sentinel URL's password and database are the master's"

# A sentinel that takes the connection and never answers has a second;
# the next one is asked then.
q=$(port_); used="$used $q"
serve pid socat "TCP-LISTEN:$q,bind=127.0.0.1,reuseaddr,fork" SYSTEM:"sleep 30"
wait_port "$q"
start=$(now_ms)
run -t 20 env RUNS=/dev/null "$SLUA" --queue "redis-sentinel://127.0.0.1:$q,127.0.0.1:$s2/mm" \
    --worker "$T/worker.lua" --handler 'work.submit("olleh") print(work.collect())'
ms=$(($(now_ms) - start))
ok "a silent sentinel is given up after a second: the next one answers ($ms ms)" \
    '[ "$rc|$(tr "\0" 0 < "$T/out")" = "0|hello0!" ] && [ "$ms" -ge 1000 ] && [ "$ms" -lt 15000 ]'
done_testing
