# Behind a load balancer: --proxy-protocol under a real haproxy (PROXY
# versions 1 and 2, IPv4 and ::1, TLS behind the header, haproxy's health
# checks), each bad header closed and logged once, a header on a listener
# without the option taken as data; and a drain: TERM stops accepting at
# once while what is in flight finishes, and under load through haproxy no
# request fails while the other backend serves the rest.
. "$(dirname "$0")/lib.sh"
plan 33

if ! command -v haproxy > /dev/null; then
	for i in $(seq 33); do skip "haproxy $i" "no haproxy (make deps)"; done
	done_testing
	exit
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/ec.key" -out "$T/ec.pem" -days 2 -subj /CN=proxy.slua.test \
    2> /dev/null

# An HTTP/1.0 answer saying whom the script saw.
cat > "$T/who.lua" <<'EOF'
repeat local h = client.line() until h == nil or h == ""
local body = string.format("%s %s %s %s\n", tostring(client.ip),
    tostring(client.port), tostring(client.proxy_ip), tostring(client.tls))
client.write("HTTP/1.0 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n"
    .. body)
EOF

# haproxy with the config on standard input, in the foreground, in a
# session of its own, ended by halt; its stats on $T/haproxy.sock.
haproxy_start() {	# pidvar port-to-wait-for
	sed "s|^global\$|global\n\tstats socket $T/haproxy.sock level admin|" \
	    > "$T/haproxy.cfg"
	rm -f "$T/haproxy.sock"
	serve "$1" haproxy -db -f "$T/haproxy.cfg"
	wait_port "$2" || diag "haproxy did not start: $(tail -3 "$T/haproxy.log")"
}

# A server's state as haproxy's stats say it: UP, DOWN, ...
hastate() {	# backend server
	echo "show stat" | socat -t 2 - "UNIX-CONNECT:$T/haproxy.sock" |
	    awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $18 }'
}

# Through haproxy: curl from a source port of our choosing, which only
# the header can have told the script.
via() {	# url
	lp=$(free_port)
	out=$(curl -sS -g -k -m 10 --local-port "$lp" "$1" 2>&1)
}

port=$(free_port)
tport=$(free_port)
h1=$(free_port)
h2=$(free_port)
h3=$(free_port)
printf 'proxy_protocol = true\ntimeout = 2\n' > "$T/slua.conf"
start_slua -H 2 -f "$T/slua.conf" "$T/who.lua"
plain=$srv
plainlog=$T/log
serve tls "$SLUA" -p "$tport" -l 127.0.0.1 -H 2 --proxy-protocol \
    --tls-cert "$T/ec.pem" --tls-key "$T/ec.key" "$T/who.lua" \
    2> "$T/tls.log"
wait_port "$tport"

haproxy_start hap "$h3" 2> "$T/haproxy.log" <<EOF
global
  maxconn 256
defaults
  timeout connect 2s
  timeout client 20s
  timeout server 20s
listen v1
  mode tcp
  bind 127.0.0.1:$h1
  bind [::1]:$h1
  server s 127.0.0.1:$port send-proxy check inter 200ms
listen v2
  mode tcp
  bind 127.0.0.1:$h2
  bind [::1]:$h2
  server s 127.0.0.1:$port send-proxy-v2 check inter 200ms
listen tls
  mode tcp
  bind 127.0.0.1:$h3
  server s 127.0.0.1:$tport send-proxy-v2
EOF

via "http://127.0.0.1:$h1/"
is "$out" "127.0.0.1 $lp 127.0.0.1 false" "PROXY v1, IPv4: the client's port, the balancer's address"
via "http://[::1]:$h1/"
is "$out" "::1 $lp 127.0.0.1 false" "PROXY v1, ::1: the client's address and port"
via "http://127.0.0.1:$h2/"
is "$out" "127.0.0.1 $lp 127.0.0.1 false" "PROXY v2, IPv4: the client's port, the balancer's address"
via "http://[::1]:$h2/"
is "$out" "::1 $lp 127.0.0.1 false" "PROXY v2, ::1: the client's address and port"
via "https://127.0.0.1:$h3/"
is "$out" "127.0.0.1 $lp 127.0.0.1 true" "TLS behind PROXY v2: the handshake after the header"

# haproxy's health checks send a LOCAL header (v2) or UNKNOWN (v1).
ok "haproxy's health checks pass, v1 and v2" \
    'wait_for 10 "[ \"\$(hastate v1 s)\" = UP ] && [ \"\$(hastate v2 s)\" = UP ]"'
printf '\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00GET / HTTP/1.0\r\n\r\n' > "$T/local"
out=$(nc -w 5 127.0.0.1 "$port" < "$T/local" | tail -1)
like "$out" '^127\.0\.0\.1 [0-9]+ 127\.0\.0\.1 false$' \
    "LOCAL: the script sees the balancer's address"
printf 'PROXY UNKNOWN\r\nGET / HTTP/1.0\r\n\r\n' > "$T/unknown"
out=$(nc -w 5 127.0.0.1 "$port" < "$T/unknown" | tail -1)
like "$out" '^127\.0\.0\.1 [0-9]+ 127\.0\.0\.1 false$' \
    "v1 UNKNOWN: the script sees the balancer's address"
halt "$hap"

# A bad header: closed, unseen by the script (no answer), logged once.
bad() {	# file message desc
	out=$(nc -w 5 127.0.0.1 "$port" < "$1" 2>&1)
	wait_for 5 "grep -qF 'PROXY protocol: $2' '$plainlog'"
	ok "$3" "[ -z \"\$out\" ] && [ \$(grep -cF 'PROXY protocol: $2' '$plainlog') = 1 ]"
}
printf 'PROXY TCP4 192.0.2.300 127.0.0.1 40000 80\r\nGET / HTTP/1.0\r\n\r\n' > "$T/bad1"
bad "$T/bad1" "version 1 header: bad source address" \
    "a malformed v1 header: closed and logged once"
printf 'PROXY TCP4 192.0.2.7 127.0.0.1 40000 80 9\r\n\r\n' > "$T/bad2"
bad "$T/bad2" "version 1 header: too many fields" \
    "a v1 header with a field too many: closed and logged once"
printf '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x7f\x00\x00\x01' > "$T/bad3"
bad "$T/bad3" "version 2 header: 4 bytes of address, too few for the family" \
    "a v2 header with a short address: closed and logged once"
{ printf 'PROXY TCP4 '; printf '1%.0s' $(seq 120); printf '\r\n'; } > "$T/long1"
bad "$T/long1" "version 1 header too long (no CRLF in 107 bytes)" \
    "a v1 header too long: closed and logged once"
printf '\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff' > "$T/long2"
bad "$T/long2" "version 2 header too long (65551 bytes, at most 2064)" \
    "a v2 header too long: closed and logged once"
printf 'GET / HTTP/1.0\r\n\r\n' > "$T/none"
bad "$T/none" "not a PROXY protocol header" \
    "no header at all: closed and logged once"

# A header that never ends: closed at the deadline (--timeout 2 here).
t0=$(now_ms)
out=$( (exec 5<> "/dev/tcp/127.0.0.1/$port" && printf 'PROXY TCP4 1.2' >&5 &&
    timeout 15 cat <&5) 2>&1)
rc=$?
dt=$(($(now_ms) - t0))
ok "a header that never ends is closed at its deadline" \
    '[ $rc = 0 ] && [ -z "$out" ] && [ $dt -ge 1500 ] && [ $dt -lt 12000 ]'
wait_for 5 "grep -qF 'no complete header within 2 s' '$plainlog'"
like "$(cat "$plainlog")" \
    '^slua: handler: 127\.0\.0\.1:[0-9]+: PROXY protocol: no complete header within 2 s$' \
    "... and logged"
stop "$plain" "the --proxy-protocol server stops on TERM"
stop "$tls" "the TLS --proxy-protocol server stops on TERM"

# Without the option a header is the client's data, never trusted.
port=$(free_port)
start_slua -H 1 'print(client.line(), client.ip, client.proxy_ip)'
out=$(printf 'PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\n' | nc -w 5 127.0.0.1 "$port")
is "$out" "$(printf 'PROXY TCP4 192.0.2.7 127.0.0.1 1 2\t127.0.0.1\tnil')" \
    "a header on a listener without --proxy-protocol is data"
stop "$srv"

# Drain, alone: a connection in flight finishes, while from the TERM on
# a new one is refused (not queued, to be reset at the end).
port=$(free_port)
start_slua -H 2 --grace 20 "if not client.line() then return end
    io.open('$T/busy', 'w'):close()
    while io.open('$T/go') == nil do os.usleep(10000) end print('done')"
exec 6<> "/dev/tcp/127.0.0.1/$port"
echo hi >&6
wait_for 10 "[ -e '$T/busy' ]"
kill -TERM "$srv"
wait_for 5 "! (exec 7<> /dev/tcp/127.0.0.1/$port) 2> /dev/null"
ok "on TERM a new connection is refused at once, while one is in flight" \
    '! (exec 7<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null'
: > "$T/go"
out=$(timeout 10 cat <&6)
exec 6<&-
is "$out" "done" "... and the one in flight finishes"
wait_for 15 "! alive $srv"
wait "$srv"
rc=$?
ok "... then it exits 0" '[ $rc = 0 ]'

# Drain under load: two backends behind haproxy, as conf/haproxy.cfg has
# them; one is stopped mid-run.
pa=$(free_port)
pb=$(free_port)
hd=$(free_port)
for b in a b; do
	cat > "$T/$b.lua" <<EOF
local req = client.line()
if not req then return end	-- a health check
repeat local h = client.line() until h == nil or h == ""
os.usleep(5000)
local f = io.open("$T/$b.count", "a") f:write("x\n") f:close()
client.write("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n$b\n")
EOF
	: > "$T/$b.count"
done
count() { wc -l < "$T/$1.count"; }
port=$pa
start_slua -H 3 --grace 10 --proxy-protocol "$T/a.lua"
sa=$srv
port=$pb
start_slua -H 3 --grace 10 --proxy-protocol "$T/b.lua"
sb=$srv
sed -e "s/127\.0\.0\.1:8080\$/127.0.0.1:$hd/" -e "s/:9001 /:$pa /" \
    -e "s/:9002 /:$pb /" "$REGRESS/../conf/haproxy.cfg" > "$T/example.cfg"
haproxy_start hap "$hd" < "$T/example.cfg" 2> "$T/haproxy.log"
ok "conf/haproxy.cfg's backends are both up" \
    'wait_for 10 "[ \"\$(hastate slua one)\" = UP ] && [ \"\$(hastate slua two)\" = UP ]"'
timeout 60 wrk -t2 -c8 -d8s --timeout 10s "http://127.0.0.1:$hd/" > "$T/wrk" 2>&1 &
wrk=$!
wait_for 20 '[ $(count a) -ge 100 ]'
b0=$(count b)
stop "$sa" "backend a, stopped mid-run, exits 0"
a1=$(count a)
b1=$(count b)
ok "haproxy sees backend a down" \
    'wait_for 10 "[ \"\$(hastate slua one)\" = DOWN ]"'
wait "$wrk"
diag "$(tr '\n' ' ' < "$T/wrk")"
like "$(cat "$T/wrk")" '[0-9]+ requests in' "wrk ran"
ok "no request failed: no socket error, no non-2xx answer" \
    '! grep -q -e "Socket errors" -e "Non-2xx" "$T/wrk"'
ok "backend b served the rest ($b0 before the stop, $(count b) at the end)" \
    '[ $(count b) -gt $((b1 + 50)) ] && [ $(count a) = $a1 ]'
halt "$hap"
stop "$sb" "backend b exits 0"

# The same in mode tcp, where haproxy retries a connection that failed,
# never one reset after it was made: none is, for what the kernel had
# queued when the TERM came is served, not reset.  Slower answers keep a
# queue.  A connection made in the moment of the drain waits for its SYN
# to be repeated (a second), hence wrk's long timeout.
for b in a b; do
	sed -i 's/os.usleep(5000)/os.usleep(50000)/' "$T/$b.lua"
	: > "$T/$b.count"
done
pa=$(free_port)
pb=$(free_port)
hd=$(free_port)
port=$pa
start_slua -H 2 --grace 10 --proxy-protocol "$T/a.lua"
sa=$srv
port=$pb
start_slua -H 2 --grace 10 --proxy-protocol "$T/b.lua"
sb=$srv
sed -e 's/mode http/mode tcp/' -e '/retry-on/d' \
    -e "s/bind 127.0.0.1:[0-9]*/bind 127.0.0.1:$hd/" \
    -e "s/\(server one 127.0.0.1:\)[0-9]*/\1$pa/" \
    -e "s/\(server two 127.0.0.1:\)[0-9]*/\1$pb/" \
    "$T/example.cfg" > "$T/tcp.cfg"
haproxy_start hap "$hd" < "$T/tcp.cfg" 2>> "$T/haproxy.log"
wait_for 10 "[ \"\$(hastate slua one)\" = UP ] && [ \"\$(hastate slua two)\" = UP ]"
timeout 60 wrk -t2 -c16 -d6s --timeout 10s "http://127.0.0.1:$hd/" > "$T/wrk" 2>&1 &
wrk=$!
wait_for 20 '[ $(count a) -ge 20 ]'
stop "$sa" "mode tcp: backend a, stopped mid-run, exits 0"
b1=$(count b)
wait "$wrk"
diag "$(tr '\n' ' ' < "$T/wrk")"
ok "mode tcp: no request failed, and b served the rest" \
    '! grep -q -e "Socket errors" -e "Non-2xx" "$T/wrk" && [ $(count b) -gt $((b1 + 10)) ]'
halt "$hap"
stop "$sb" "mode tcp: backend b exits 0"

done_testing
