# The --status listener: /metrics in Prometheus text format, read with a
# real parser (Debian's python3-prometheus-client), whose figures move as
# a known load says (connections, jobs, failures, kills, a reload);
# /status and /status?json; what it answers to bad requests and slow
# clients; a Unix socket from the config file; what --status is refused;
# behind a balancer, the client a PROXY header names.
. "$(dirname "$0")/lib.sh"
plan 56

ulimit -c 0	# a handler is killed with SEGV: no core file of it
port=$(free_port)
sport=$(free_port)
while [ "$sport" = "$port" ]; do sport=$(free_port); done
PY=/usr/bin/python3
url="http://127.0.0.1:$sport"

cat > "$T/h.lua" <<'LUA'
local l = client.line()
if not l then return end
local r, err = work.collect(work.submit(l))
print(r or err)
LUA
# A slow job runs until the test opens the gate.
cat > "$T/w.lua" <<LUA
while true do
	local j = work.accept()
	if j == "fail" then error("boom") end
	while j == "slow" and not io.stat("$T/gate") do os.usleep(10000) end
	work.answer("w " .. j)
end
LUA
# Each sample as "name{label=value,...} value", each family as
# "TYPE name type": what the parser made of the page.
cat > "$T/prom.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print("TYPE %s %s" % (fam.name, fam.type))
    for s in fam.samples:
        lab = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        v = int(s.value) if s.value == int(s.value) else s.value
        print("%s%s %s" % (s.name, "{%s}" % lab if lab else "", v))
PY
scrape() {
	curl -sf -m 10 "$url/metrics" > "$T/m.txt" &&
	    "$PY" "$T/prom.py" < "$T/m.txt" > "$T/m.out" 2> "$T/m.err"
}
# One sample's value, from the last scrape (v) or a fresh one (m).
v() { awk -v k="$1" '$1 == k { print $2 }' "$T/m.out"; }
m() { scrape && v "$1"; }
ask() { echo "$1" | nc -N -w 10 127.0.0.1 "$port"; }
code() { curl -s -m 10 -o "$T/body" -w '%{http_code}' "$@"; }

# ---------------------------------------------------------------------------
# What is refused, before anything starts.
run "$SLUA" --status "127.0.0.1:$sport" -e 'print(1)'
check "--status outside tcp mode is a usage error" 2 "" \
    "slua: --status needs --port"
run "$SLUA" -p "$port" -l 127.0.0.1 --status nonsense "$T/h.lua"
check "a status address that is neither ADDR:PORT nor a path" 1 "" \
    "slua: status nonsense: not ADDR:PORT or a path"
run "$SLUA" -p "$port" -l 127.0.0.1 --status 999.1.1.1:80 "$T/h.lua"
like "$rc $(cat "$T/err")" "^1 slua: status 999\.1\.1\.1:80: .*(not known|Name)" \
    "a status address that does not parse"
run "$SLUA" -p "$port" -l 127.0.0.1 --status 127.0.0.1:0 "$T/h.lua"
check "port 0" 1 "" "slua: status 127.0.0.1:0: port 0: too small"
run "$SLUA" -n -p "$port" -l 127.0.0.1 --status 127.0.0.1:65536 "$T/h.lua"
check "-n checks the status address" 1 "" \
    "slua: status 127.0.0.1:65536: port 65536: too large"
run "$SLUA" -n -p "$port" -l 127.0.0.1 --status "$T/s.sock" "$T/h.lua"
check "-n: a Unix socket path is good" 0 "configuration OK" ""
run "$SLUA" -p "$port" -l 127.0.0.1 --status "127.0.0.1:$port" "$T/h.lua"
check "never on the service's own listener" 1 "" \
    "slua: status 127.0.0.1:$port: the service listens there"
run "$SLUA" -p "$port" --status "127.0.0.1:$port" "$T/h.lua"
check "... nor on its wildcard" 1 "" \
    "slua: status 127.0.0.1:$port: the service listens there"

if ! "$PY" -c 'import prometheus_client' 2>/dev/null; then
	diag "SKIPPED: no python3-prometheus-client (common/deps.sh)"
	while [ "$_n" -lt 56 ]; do skip "status listener" "no prometheus_client"; done
	done_testing
	exit
fi

# ---------------------------------------------------------------------------
# A known load: 6 connections, each one job; 2 of them fail in the worker.
start_slua -H 3 -W 2 --status "127.0.0.1:$sport" "$T/h.lua" "$T/w.lua"
wait_port "$sport"
ok "/metrics parses as Prometheus text" 'scrape'
is "$(code "$url/metrics") $(curl -s -m 10 -o /dev/null -w '%{content_type}' "$url/metrics")" \
    "200 text/plain; version=0.0.4; charset=utf-8" "/metrics: 200, text format 0.0.4"
printf '%s\n' "TYPE slua_connections_accepted counter" \
    "TYPE slua_connection_duration_seconds histogram" \
    "TYPE slua_jobs_submitted counter" "TYPE slua_jobs_failed counter" \
    "TYPE slua_job_duration_seconds histogram" "TYPE slua_jobs_queued gauge" \
    "TYPE slua_process_restarts counter" "TYPE slua_handlers gauge" \
    "TYPE slua_workers gauge" "TYPE slua_listen_queue_length gauge" \
    > "$T/types"
is "$(grep -cxFf "$T/types" "$T/m.out")" 10 "the families have their types"
is "$(grep -c '^slua_queue_' "$T/m.out")" 0 \
    "without --queue, no gauges of the shared queue (not even 0)"
# start_slua's look at the port was a connection: the base.
wait_for 10 '[ "$(m slua_connections_closed_total)" = 1 ]'
is "$(m slua_connections_accepted_total) $(m slua_jobs_submitted_total)" \
    "1 0" "one connection (the harness's look at the port), no job"

out=""
for j in a b fail c fail d; do out="$out $(ask "$j")"; done
like "$out" "^ w a w b worker error: .*boom w c worker error: .*boom w d$" \
    "the load was answered"
wait_for 10 '[ "$(m slua_connections_closed_total)" = 7 ] &&
    [ "$(m slua_jobs_answered_total)" = 4 ]'
is "$(m slua_connections_accepted_total) $(m slua_connections_closed_total)" \
    "7 7" "6 more connections accepted and closed"
is "$(m slua_jobs_submitted_total) $(m slua_jobs_answered_total)" "6 4" \
    "6 jobs submitted, 4 answered"
is "$(m 'slua_jobs_failed_total{reason=worker_error}') $(m 'slua_jobs_failed_total{reason=timeout}')" \
    "2 0" "2 failed by a worker's error, none by a timeout"
is "$(m slua_job_duration_seconds_count) $(m 'slua_job_duration_seconds_bucket{le=+Inf}')" \
    "6 6" "the job time histogram counts 6"
is "$(m slua_connection_duration_seconds_count)" 7 \
    "the connection time histogram counts them"
ok "connection times sum to more than 0 and less than 6 s" \
    'awk "\$1 == \"slua_connection_duration_seconds_sum\" { exit !(\$2 > 0 && \$2 < 6) }" "$T/m.out"'
wait_for 10 '[ "$(m "slua_handlers{state=idle}")" = 3 ]'
is "$(m 'slua_handlers{state=idle}') $(m 'slua_workers{state=idle}') $(m 'slua_handlers{state=busy}')" \
    "3 2 0" "3 handlers and 2 workers idle"

# ---------------------------------------------------------------------------
# Kills: each respawn is counted, and what the dead counted stays.
h1=$(hpids 3 | head -1)
kill -KILL "$h1"
wait_for 10 '[ "$(m "slua_process_restarts_total{role=handler}")" = 1 ]'
is "$(m 'slua_process_restarts_total{role=handler}') $(m 'slua_process_crashes_total{role=handler}')" \
    "1 0" "a handler killed: one restart, no crash (KILL is no crash)"
is "$(m slua_connections_accepted_total)" 7 \
    "the dead handler's connections still count"
h2=$(hpids 3 | head -1)
kill -SEGV "$h2"
wait_for 10 '[ "$(m "slua_process_restarts_total{role=handler}")" = 2 ]'
is "$(m 'slua_process_restarts_total{role=handler}') $(m 'slua_process_crashes_total{role=handler}')" \
    "2 1" "a handler that crashed: a restart and a crash"
w1=$(procs "$srv" worker | head -1)
kill -KILL "$w1"
wait_for 10 '[ "$(m "slua_process_restarts_total{role=worker}")" = 1 ]'
is "$(m 'slua_process_restarts_total{role=worker}')" 1 \
    "a worker killed: one restart"
is "$(m slua_jobs_submitted_total) $(m slua_jobs_answered_total)" "6 4" \
    "the jobs' counts survive"

# ---------------------------------------------------------------------------
# Busy: three slow jobs on two workers; one waits in the queue (the
# third comes once the two run: a busy worker is handed no job then).
wait_for 10 '[ "$(m "slua_workers{state=idle}")" = 2 ] && [ "$(m "slua_handlers{state=idle}")" = 3 ]'
for i in 1 2; do (ask slow > "$T/slow$i") & done
wait_for 10 '[ "$(m "slua_workers{state=busy}")" = 2 ]'
(ask slow > "$T/slow3") &
wait_for 10 'scrape && [ "$(v slua_jobs_queued)" = 1 ] &&
    [ "$(v "slua_handlers{state=busy}")" = 3 ]'
curl -s -m 10 "$url/status" > "$T/status"
curl -s -m 10 "$url/status?json" > "$T/json"
is "$(v slua_jobs_queued) $(v 'slua_workers{state=busy}') $(v 'slua_handlers{state=busy}')" \
    "1 2 3" "3 handlers busy, 2 workers busy, 1 job queued"
ok "the oldest queued job's age is counted" \
    'awk "\$1 == \"slua_job_oldest_queued_seconds\" { exit !(\$2 > 0 && \$2 < 10) }" "$T/m.out"'
like "$(cat "$T/status")" "^slua status

Uptime: [0-9]+ s, since 20[0-9-]+ [0-9:]+ UTC
Generation: 1 \(reloads: 0, failed: 0\)
Connections: 10 accepted, 7 closed, 0 timed out, 0 TLS failures
Jobs: 9 submitted, 4 answered, 1 queued, oldest [0-9.]+ s
Handlers: 3 busy, 0 idle, 0 starting, 0 connections held; workers: 2 busy, 0 idle, 0 starting

PID +ROLE +GEN STATE +FOR +SERVED RESTARTS +RSS  DOING
[0-9]+ +broker +1 serving .* 1 jobs queued
[0-9]+ +worker +1 busy .* a job" "/status: the totals and a row per process"
is "$(grep -c ' handler .* busy .* client 127\.0\.0\.1:' "$T/status")" 3 \
    "/status: each busy handler with its client"
is "$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
p = d["processes"]
print(d["generation"], d["totals"]["jobs_queued"],
      sorted((x["role"], x["state"]) for x in p).count(("worker", "busy")),
      len([x for x in p if x["role"] == "handler" and x["state"] == "busy"
           and x["doing"].startswith("client 127.0.0.1:")]),
      all(x["rss_bytes"] > 0 and x["pid"] > 0 for x in p))' "$T/json")" \
    "1 1 2 3 True" "/status?json: the same figures and rows"
touch "$T/gate"
wait_for 15 '[ -s "$T/slow1" ] && [ -s "$T/slow2" ] && [ -s "$T/slow3" ]'
is "$(cat "$T/slow1" "$T/slow2" "$T/slow3")" "w slow
w slow
w slow" "the slow jobs were answered"
wait_for 10 '[ "$(m slua_jobs_queued)" = 0 ] && [ "$(m "slua_workers{state=busy}")" = 0 ]'
is "$(m slua_jobs_queued) $(m slua_job_oldest_queued_seconds) $(m slua_jobs_answered_total)" \
    "0 0 7" "the queue empties and the answers count"

# ---------------------------------------------------------------------------
# HTTP: what is not a status page, and clients that do not behave.
is "$(code "$url/nope") $(cat "$T/body")" \
    "404 not found: try /metrics, /status or /status?json" "an unknown path: 404"
is "$(code -X POST "$url/metrics")" 405 "POST: 405"
is "$(code -H "X-Long: $(head -c 5000 /dev/zero | tr '\0' a)" "$url/metrics")" \
    431 "a request past 4 KiB: 431"
is "$(printf 'hello\r\n\r\n' | nc -w 10 127.0.0.1 "$sport" | head -1 | tr -d '\r')" \
    "HTTP/1.1 400 Bad Request" "not HTTP: 400"
is "$(curl -s -m 10 -I -o /dev/null -w '%{http_code} %{size_download}' "$url/status")" \
    "200 0" "HEAD: the headers only"
# A client that says nothing holds no one up, and is closed in 5 s.
(exec 5<>"/dev/tcp/127.0.0.1/$sport"; sleep 30) &
silent=$!
wait_for 5 '[ "$(ss -Htn state established "( sport = :$sport )" | wc -l)" -ge 1 ]'
is "$(code "$url/metrics") $(ask x)" "200 w x" \
    "a silent status client: scrapes and the service go on"
ok "the silent status client is closed within its 5 s (and some)" \
    'wait_for 15 "[ \$(ss -Htn state established \"( sport = :$sport )\" | wc -l) = 0 ]"'
kill "$silent" 2>/dev/null

# ---------------------------------------------------------------------------
# A reload, counted; USR1 still logs its lines.
kill -HUP "$srv"
wait_for 20 '[ "$(m slua_generation)" = 2 ]'
is "$(m slua_generation) $(m 'slua_reloads_total{result=ok}') $(m 'slua_reloads_total{result=failed}')" \
    "2 1 0" "a reload: generation 2, counted"
is "$(m slua_connections_accepted_total)" 11 \
    "the retired generation's counts stay"
kill -USR1 "$srv"
ok "USR1 still logs the status lines" \
    'wait_for 10 "grep -q \"status: generation 2\" \"$T/log\""'
stop "$srv"
ok "the status port is closed with slua" '! (exec 4<>"/dev/tcp/127.0.0.1/$sport") 2>/dev/null'

# ---------------------------------------------------------------------------
# Failures by reason: a TLS handshake that fails, a handler past
# --handler-timeout, a job past --job-timeout (the worker's own timer).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/ec.key" -out "$T/ec.crt" -subj /CN=localhost -days 2 \
    2> /dev/null
cat > "$T/h2.lua" <<'LUA'
local l = client.line()
if l == "loop" then while true do end end
if l == "late" then
	local r, err = work.collect(work.submit("late"))
	print(r or err)
end
LUA
cat > "$T/w2.lua" <<'LUA'
while true do
	local j = work.accept()
	if j == "late" then while true do end end
	work.answer(j)
end
LUA
tls() { echo "$1" | timeout 15 openssl s_client -quiet -connect \
    "127.0.0.1:$port" 2> /dev/null; }
start_slua -H 2 -W 1 --status "127.0.0.1:$sport" --tls-cert "$T/ec.crt" \
    --tls-key "$T/ec.key" --handler-timeout 3 --job-timeout 1 --grace 1 \
    "$T/h2.lua" "$T/w2.lua"
wait_port "$sport"
tls loop > /dev/null &
looping=$!
is "$(tls late)" "job timed out" "a job past --job-timeout fails"
echo hello | nc -N -w 10 127.0.0.1 "$port" > /dev/null
wait "$looping"
wait_for 10 'scrape && [ "$(v "slua_connections_cut_total{reason=handler_timeout}")" = 1 ] &&
    [ "$(v slua_tls_handshake_failures_total)" = 2 ]'
is "$(v 'slua_connections_cut_total{reason=handler_timeout}') $(v slua_handler_errors_total)" \
    "1 0" "a handler past --handler-timeout: one connection cut, no script error"
is "$(v slua_tls_handshake_failures_total)" 2 \
    "TLS failures: the harness's look at the port, and a client that is not TLS"
is "$(v 'slua_jobs_failed_total{reason=timeout}') $(v 'slua_jobs_failed_total{reason=worker_error}') $(v slua_jobs_answered_total)" \
    "1 0 0" "the job's failure is counted a timeout"
stop "$srv"

# ---------------------------------------------------------------------------
# A Unix socket, from the config file; removed when slua stops.
cat > "$T/slua.conf" <<CONF
status = "$T/status.sock"
handlers = 1
workers = 1
CONF
start_slua -f "$T/slua.conf" "$T/h.lua" "$T/w.lua"
ask a > /dev/null
wait_for 10 '[ "$(curl -s -m 10 --unix-socket "$T/status.sock" http://x/metrics |
    grep "^slua_connections_closed_total")" = "slua_connections_closed_total 2" ]'
is "$(curl -s -m 10 --unix-socket "$T/status.sock" http://x/metrics |
    grep '^slua_connections_closed_total')" "slua_connections_closed_total 2" \
    "status on a Unix socket, set in slua.conf"
ok "the socket is the listener's" '[ -S "$T/status.sock" ]'
stop "$srv"
ok "the socket is removed when slua stops" '[ ! -e "$T/status.sock" ]'

# ---------------------------------------------------------------------------
# Behind a balancer (--proxy-protocol): a busy handler's row names the
# client the PROXY header gave, not the balancer that connected.
cat > "$T/hp.lua" <<LUA
local l = client.line()
while not io.stat("$T/gate2") do os.usleep(10000) end
print(l, client.ip, client.proxy_ip)
LUA
start_slua -H 1 --proxy-protocol --status "127.0.0.1:$sport" "$T/hp.lua"
wait_port "$sport"
# The harness's look at the port, without a header, is closed; a report
# goes when a connection comes after 100 ms idle, so one comes later.
wait_for 10 'curl -s -m 10 "$url/status" |
    awk "/ handler / && \$4 == \"idle\" && \$5 + 0 >= 0.2 { f = 1 } END { exit !f }"'
(printf 'PROXY TCP4 203.0.113.7 127.0.0.1 40001 %s\r\nhi\n' "$port" |
    nc -w 15 127.0.0.1 "$port" > "$T/p.out") &
wait_for 10 'curl -s -m 10 "$url/status" > "$T/status" &&
    grep -q " handler .* busy .*  client " "$T/status"'
like "$(grep ' handler ' "$T/status")" \
    "^[0-9]+ +handler +1 busy .*  client 203\.0\.113\.7:40001\$" \
    "/status: a busy handler behind PROXY shows the client, not the balancer"
touch "$T/gate2"
wait_for 15 '[ -s "$T/p.out" ]'
is "$(cat "$T/p.out")" "hi	203.0.113.7	127.0.0.1" "and the script saw the same client"
halt "$srv"

done_testing
