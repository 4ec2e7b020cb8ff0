# After a reconnection, a broker with workers first reads again the
# entries Redis delivered to it and it never acknowledged: the reply of an
# XREADGROUP can be lost with its connection, the job then pending at
# this broker's consumer, which no other broker claims while it lives.
# The worker host reaches Redis through a socat relay, which is stopped
# while Redis delivers a job through it and killed then: the reply is
# gone.
. "$(dirname "$0")/lib.sh"
plan 4

need_redis 4 "redelivery"

rport=$(free_port)
pport=$(free_port)
while [ "$pport" = "$rport" ]; do pport=$(free_port); done
redis_up
relay() {
	serve px socat "TCP-LISTEN:$pport,bind=127.0.0.1,reuseaddr,fork" \
	    "TCP:127.0.0.1:$rport"
	wait_port "$pport" || diag "socat does not listen"
}
relay

cat > "$T/worker.lua" <<'LUA'
while true do
  local j = work.accept()
  local f = io.open(os.getenv("RUNS"), "a") f:write(j, "\n") f:close()
  work.answer(j:reverse() .. "\0!")
end
LUA
serve h env RUNS="$T/runs" "$SLUA" --queue "redis://127.0.0.1:$pport" -W 1 \
    --worker "$T/worker.lua" 2> "$T/h.log"
# Its job connection waits in XREADGROUP, through the relay.
wait_for 20 'rcli client list | grep -q "name=slua:jobs .*cmd=xreadgroup"' ||
    diag "the worker host is not reading: $(cat "$T/h.log")"

# The relay stopped just after a blocking read went through it (it ends
# every second: stopped later, the next read would not reach Redis):
# Redis delivers the next job into the relay.
serve mon redis-cli -p "$rport" monitor > "$T/mon"
reads() { grep -c '"XREADGROUP" .*"BLOCK"' "$T/mon"; }
wait_for 10 '[ -s "$T/mon" ]'
n=$(reads)
wait_for 10 '[ "$(reads)" -gt "$n" ]'
for p in $(ps -o pid= -s "$px"); do kill -STOP "$p"; done
halt "$mon"
serve sub "$SLUA" --queue "redis://127.0.0.1:$rport" \
    'print(work.collect(work.submit("olleh")))' > "$T/sub.out"
wait_for 20 '[ "$(rcli xpending slua:jobs slua | head -1)" = 1 ]'
is "$(rcli xpending slua:jobs slua | sed -n '1p;5p' | tr '\n' ' ')|$(cat "$T/runs" 2>/dev/null)" \
    "1 1 |" "Redis delivered the job, which did not reach the worker host"
# Killed with the reply in it; a new relay in its place.
for p in $(ps -o pid= -s "$px"); do kill -KILL "$p"; done
halt "$px"
relay

wait_for 30 '! kill -0 $sub 2>/dev/null'
is "$(tr '\0' 0 < "$T/sub.out")|$(cat "$T/runs" 2>/dev/null)" "hello0!|olleh" \
    "after the reconnection the worker host read the job again, ran it once, and it was answered"
like "$(cat "$T/h.log")" "queue: connection lost" \
    "the worker host saw its connection go"
stop "$h" "the worker host stops on TERM"
halt "$sub"
done_testing
