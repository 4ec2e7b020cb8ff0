# tcp mode: slow clients.  A client that has not sent its first line is
# held in C and costs no handler; reads are bounded by --request-timeout
# from accept, the TLS handshake by --tls-timeout; --greeting runs the
# script at once for protocols where the server speaks first.
. "$(dirname "$0")/lib.sh"
plan 33

SC="python3 $REGRESS/slowclient.py"
port=$(free_port)
echo_script='local l, err = client.line() print(l, err)'

# 100 clients sending a byte every half second, one handler.
start_slua -H 1 --request-timeout 3 "$echo_script"
h=$(hpids 1)
timeout 30 $SC trickle "$port" 100 0.5 "GET / HTTP/1.1 and the rest, slowly" \
    > "$T/trickle" 2>&1 &
tpid=$!
ok "100 trickling clients are accepted" 'wait_for 10 "[ \$(accepted) -ge 100 ]"'
t0=$(now_ms)
got=$(echo hi | timeout 10 nc -N -w 5 127.0.0.1 "$port")
ms=$(($(now_ms) - t0))
is "$got" "hi	nil" "with 100 trickling clients and -H 1, a new client is answered"
ok "at once ($ms ms)" '[ "$ms" -lt 1500 ]'
wait "$tpid"
read -r n answer secs1 secs2 < <(sed 's/nil timeout/nil_timeout/' "$T/trickle")
is "$n $answer" "100 nil_timeout" "each trickling client gets the script's timeout"
ok "at --request-timeout 3 ($secs1 to $secs2 s)" \
    'awk -v a="$secs1" -v b="$secs2" "BEGIN { exit !(a >= 2.5 && b < 6) }"'
ok "by the one handler process" 'same "$h"'
stop "$srv" "the trickled server stops on TERM"

# Clients that send nothing end at --timeout, as the script's wait would.
start_slua -H 1 --timeout 2 "$echo_script"
timeout 30 $SC trickle "$port" 20 0.5 "" > "$T/idle" 2>&1 &
tpid=$!
ok "20 idle clients are accepted" 'wait_for 10 "[ \$(accepted) -ge 20 ]"'
is "$(echo hi | timeout 10 nc -N -w 5 127.0.0.1 "$port")" "hi	nil" \
    "with 20 idle clients and -H 1, a new client is answered"
wait "$tpid"
read -r n answer secs1 secs2 < <(sed 's/nil timeout/nil_timeout/' "$T/idle")
is "$n $answer" "20 nil_timeout" "the idle clients get the script's timeout"
ok "at --timeout 2 ($secs1 to $secs2 s)" \
    'awk -v a="$secs1" -v b="$secs2" "BEGIN { exit !(a >= 1.5 && b < 5) }"'

# A first line in two parts reaches the script whole.
exec 5<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HT' >&5
ok "a client with half a line is accepted" 'wait_for 5 "[ \$(accepted) -ge 1 ]"'
is "$(echo hi | timeout 10 nc -N -w 5 127.0.0.1 "$port")" "hi	nil" \
    "meanwhile another client is answered"
printf 'TP/1.0\r\n' >&5
is "$(timeout 5 cat <&5)" "GET / HTTP/1.0	nil" "the line completed reaches the script whole"
exec 5<&-
stop "$srv" "the idle clients' server stops on TERM"

# The deadline bounds the reads after the first line too, and the script
# may start another (client.deadline).
start_slua -H 1 --request-timeout 2 --timeout 10 'local a = client.line()
if a == "renew" then client.deadline(1) end
local b, err = client.line()
print(a, b, err)'
timeout 30 $SC trickle "$port" 1 0.5 "a
bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" > "$T/second" 2>&1
read -r n a b err secs1 secs2 < "$T/second"
is "$n $a $b $err" "1 a nil timeout" "a slow second line ends at the deadline"
ok "--request-timeout 2 from accept ($secs1 s)" \
    'awk -v a="$secs1" "BEGIN { exit !(a >= 1.5 && a < 5) }"'
timeout 30 $SC trickle "$port" 1 0.2 "renew
bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" > "$T/renew" 2>&1
read -r n a b err secs1 secs2 < "$T/renew"
is "$n $a $b $err" "1 renew nil timeout" "client.deadline(1): a new deadline"
ok "one second after the first line ($secs1 s)" \
    'awk -v a="$secs1" "BEGIN { exit !(a >= 2 && a < 5) }"'
stop "$srv" "the deadline server stops on TERM"

start_slua -H 1 'print(pcall(client.deadline, -1))'
is "$(timeout 10 nc -N -w 5 127.0.0.1 "$port" < /dev/null)" \
    "false	bad argument #1 to '?' (seconds out of range)" \
    "client.deadline(-1) is an error"
stop "$srv" "the client.deadline server stops on TERM"

# A server that speaks first.
smtp='print("220 ready") print("250 " .. tostring(client.line()))'
start_slua -H 1 --greeting "$smtp"
exec 5<>"/dev/tcp/127.0.0.1/$port"
read -r -t 5 greet <&5
is "$greet" "220 ready" "--greeting: the script runs at once"
printf 'HELO x\r\n' >&5
read -r -t 5 reply <&5
is "$reply" "250 HELO x" "and reads the client's answer"
exec 5<&-
stop "$srv" "the --greeting server stops on TERM"

start_slua -H 1 --timeout 1 "$smtp"
t0=$(now_ms)
exec 5<>"/dev/tcp/127.0.0.1/$port"
read -r -t 5 greet <&5
ms=$(($(now_ms) - t0))
exec 5<&-
ok "without it, the greeting waits for --timeout ($ms ms)" \
    '[ "$greet" = "220 ready" ] && [ "$ms" -ge 900 ]'
stop "$srv" "the greeting server without --greeting stops on TERM"

# A ClientHello a byte every half second: cut at --tls-timeout, not at
# --timeout per byte; another client is served meanwhile.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
start_slua -H 2 --timeout 5 --tls-timeout 2 --tls-cert "$T/cert.pem" \
    --tls-key "$T/key.pem" 'print("tls " .. tostring(client.tls))'
timeout 30 $SC hello "$port" 0.5 > "$T/hello" 2>&1 &
tpid=$!
is "$(curl -sk -m 10 --http0.9 "https://127.0.0.1:$port/")" "tls true" \
    "a TLS client is served while another sends its ClientHello slowly"
wait "$tpid"
secs=$(cat "$T/hello")
ok "the slow handshake is cut at --tls-timeout 2 ($secs s)" \
    'awk -v a="$secs" "BEGIN { exit !(a >= 1.5 && a < 4.5) }"'
like "$(cat "$T/log")" "127\.0\.0\.1:[0-9]+: tls: handshake timeout" \
    "and logged"
stop "$srv" "the TLS server stops on TERM"

run "$SLUA" -n --request-timeout 1s 'print(1)'
check "--request-timeout takes seconds" 2 "" "slua: request-timeout 1s: invalid"
run "$SLUA" -n --tls-timeout 0 'print(1)'
check "--tls-timeout is at least a second" 2 "" "slua: tls-timeout 0: too small"

done_testing
