# tcp mode: the supervisor, preforked handlers, the client API, TLS.
. "$(dirname "$0")/lib.sh"
plan 61

EX="$REGRESS/../conf/examples"
port=$(free_port)
url="http://127.0.0.1:$port"

# n urls of $url, for curl -K
urls() {
	for i in $(seq 1 "$1"); do
		printf 'url = "%s/%d"\n' "$url" "$i"
		[ -z "${2:-}" ] || printf 'output = /dev/null\n'
	done > "$T/urls"
}

start_slua -H 2 "$EX/http-handler.lua"
is "$(curl -s -m 10 "$url/one")" "hello /one" "curl gets an answer"
urls 1000 null
timeout 60 curl -s -m 10 --parallel --parallel-max 16 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null
is "$(grep -c '^200$' "$T/codes")" 1000 "1,000 requests, 16 in parallel, all answered"
is "$(hpids 2 | wc -l)" 2 "-H 2: two handler processes"
titles=$(for p in $srv $(pgrep -P "$srv"); do tr '\0' '\n' < "/proc/$p/cmdline" | head -1; done | sort | uniq -c | tr -s ' ')
is "$titles" " 2 slua: handler
 1 slua: supervisor" "the supervisor and its handlers are titled"
stop "$srv" "the server stops on TERM"

# Globals do not leak from one connection to the next.
cat > "$T/count.lua" <<'LUA'
counter = (counter or 0) + 1
print(counter, rawget(_G, "counter"), type(string.format))
LUA
start_slua -H 1 "$T/count.lua"
a=$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)
b=$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)
is "$a|$b" "1	1	function|1	1	function" "globals are fresh for each connection"
stop "$srv" "the globals server stops on TERM"

# A Lua error in one connection; the next is served.
cat > "$T/err.lua" <<'LUA'
local l = client.line()
if l == "boom" then error("bad request") end
print("ok " .. l)
LUA
start_slua -H 1 "$T/err.lua"
h=$(hpids 1)
a=$(echo boom | nc -N -w 5 127.0.0.1 "$port")
b=$(echo fine | nc -N -w 5 127.0.0.1 "$port")
is "$a|$b" "|ok fine" "after an error the handler serves the next client"
ok "the same handler process" 'same "$h"'
like "$(cat "$T/log")" "slua: handler: 127\.0\.0\.1:[0-9]+: .*err\.lua:2: bad request" \
    "the error is logged with the client's address"
stop "$srv" "the error server stops on TERM"

# client.ip, client.port, client.tls, print to the client, read(n).
start_slua -H 1 'print(client.ip, type(client.port), client.tls)
client.write(client.read(3) .. "|" .. client.read() .. "\n")'
is "$(printf 'abcdef' | nc -N -w 5 127.0.0.1 "$port")" "127.0.0.1	number	false
abc|def" "client.ip, client.port, client.tls, read(n), read()"
stop "$srv" "the client API server stops on TERM"

# What the client sends that the script does not read (the rest of a
# body) is read before the connection closes: closing on unread bytes
# would reset it, and the client lose the end of a long answer.
start_slua -H 1 'client.line() print("ok") os.usleep(300000)
client.write(string.rep("x", 4194304))'
got=$(timeout 30 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"go\n")
if s.recv(3) != b"ok\n":
    sys.exit("no ok")
s.sendall(b"b" * 1000)
time.sleep(0.5)
n = 0
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        n += len(d)
except OSError as e:
    print(n, e.errno)
    sys.exit()
print(n)
' "$port")
is "$got" 4194304 "a body the script did not read: the whole answer, then the end"
stop "$srv" "the long answer server stops on TERM"

# --max-line
start_slua -H 1 --max-line 10 'print(client.line()) print(client.line())'
is "$(printf '0123456789ABCDEF\nshort\n' | nc -N -w 5 127.0.0.1 "$port")" \
    "nil	line too long
short" "a line over --max-line"
is "$(printf '0123456789\n' | nc -N -w 5 127.0.0.1 "$port")" "0123456789
nil" "a line of --max-line bytes is whole"
stop "$srv" "the --max-line server stops on TERM"

# --timeout: an idle client times out; another client is served meanwhile.
start_slua -H 2 --timeout 1 'local l, err = client.line() print(l, err)'
t0=$(now_ms)
exec 5<>"/dev/tcp/127.0.0.1/$port"
ok "a handler holds the idle client" 'wait_for 5 "[ \$(accepted) = 1 ]"'
is "$(echo hi | nc -N -w 5 127.0.0.1 "$port")" "hi	nil" "another client is served while one idles"
idle=$(timeout 5 cat <&5)
ms=$(($(now_ms) - t0))
exec 5<&-
is "$idle" "nil	timeout" "the idle client gets a timeout, and its connection is closed"
ok "after --timeout 1 ($ms ms)" '[ "$ms" -ge 900 ] && [ "$ms" -lt 3500 ]'
stop "$srv" "the --timeout server stops on TERM"

# --max-requests: a handler is replaced after n connections.  Not
# start_slua, whose probe of the port would be a connection.
serve srv "$SLUA" -p "$port" -l 127.0.0.1 -H 1 --max-requests 2 \
    'local f = io.open("/proc/self/stat") print(f:read("*n")) f:close()' 2> "$T/log"
wait_for 5 '[ -n "$(ss -Hltn "( sport = :$port )")" ]'
p1=$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)
p2=$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)
p3=$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)
ok "--max-requests 2: same handler twice, then a new one ($p1 $p2 $p3)" \
    '[ -n "$p1" ] && [ "$p1" = "$p2" ] && [ -n "$p3" ] && [ "$p3" != "$p1" ]'
ok "the handler that served two is gone" '[ -n "$p1" ] && wait_for 5 "! alive \"$p1\""'
stop "$srv" "the --max-requests server stops on TERM"

# Handlers submit jobs to workers, one round trip per request.
start_slua -H 2 -W 2 "$EX/http-handler.lua" \
    'while true do work.answer("job " .. work.accept()) end'
is "$(curl -s -m 10 "$url/a")" "job /a" "a request's job runs on a worker"
urls 200
timeout 60 curl -s -m 10 --parallel --parallel-max 16 -K "$T/urls" 2>/dev/null | sort > "$T/got"
seq 1 200 | sed 's|^|job /|' | sort > "$T/want"
ok "200 requests, each with its own job's answer" 'cmp -s "$T/got" "$T/want"'

# kill -9 a handler under load: the pool is restored, requests answered.
urls 2000 null
victim=$(hpids 2 | head -1)	# before the load: a slow look must not outlast it
timeout 60 curl -s -m 10 --parallel --parallel-max 8 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null &
load=$!
wait_for 10 '[ -s "$T/codes" ]'	# the load runs; the kill below checks it still does
ok "a handler is killed while the load runs" \
    '[ -n "$victim" ] && alive "$load" && kill -9 "$victim"'
wait "$load"	# bounded by timeout 60
ok "the killed handler is gone" '[ -n "$victim" ] && wait_for 5 "! alive \"$victim\""'
ok "the killed handler is replaced" \
    'wait_for 5 "[ \$(procs $srv handler | grep -vx ${victim:-x} | wc -l) = 2 ]"'
like "$(cat "$T/log")" "handler $victim died: killed by signal 9" "the death is logged"
urls 100 null
timeout 60 curl -s -m 10 --parallel --parallel-max 8 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null
is "$(grep -c '^200$' "$T/codes")" 100 "every later request is answered"
stop "$srv" "the server with workers stops on TERM"

start_slua -H 1 'work.submit("x")'
echo | nc -N -w 5 127.0.0.1 "$port" > /dev/null
stop "$srv" "the server without workers stops on TERM"
like "$(cat "$T/log")" "no workers" "without a worker script, submit raises \"no workers\""

# Port in use: a clear error, non-zero exit, nothing left running.
serve blocker socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:true
wait_port "$port"
run "$SLUA" -p "$port" -l 127.0.0.1 'print(1)'
check "port in use" 1 "" "slua: bind 127.0.0.1:$port: Address already in use"
halt "$blocker"

run "$SLUA" -p "$port" -l 256.1.2.3 'print(1)'
check "an invalid address" 1 ""
like "$(cat "$T/err")" "^slua: listen 256\.1\.2\.3: " "an invalid address is named"

# IPv6
if grep -q '^0*1 ' /proc/net/if_inet6 2>/dev/null; then
	serve srv "$SLUA" -p "$port" -l ::1 -H 1 'print(client.ip)' 2> "$T/log"
	wait_for 5 "(exec 4<>/dev/tcp/::1/$port) 2>/dev/null"
	is "$(nc -N -w 5 ::1 "$port" < /dev/null)" "::1" "IPv6: client.ip is ::1"
	stop "$srv" "the IPv6 server stops on TERM"
else
	skip "IPv6 listener" "no ::1 here"
	skip "IPv6 listener stops" "no ::1 here"
fi

# TLS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" \
    -days 2 -subj /CN=slua-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key.pem" -out "$T/req.pem" \
    -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$T/ext"
openssl x509 -req -in "$T/req.pem" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
    -CAcreateserial -out "$T/leaf.pem" -days 2 -extfile "$T/ext" 2>/dev/null
cat "$T/leaf.pem" "$T/ca.pem" > "$T/chain.pem"

# A TLS 1.1 client that really offers 1.1: Debian's s_client refuses 1.1 by
# itself at the default security level.
tls11() {
	timeout 10 openssl s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
	    -connect "127.0.0.1:$1" < /dev/null > "$T/s11" 2>&1
}
p11=$(free_port)
serve old openssl s_server -accept "127.0.0.1:$p11" -tls1_1 \
    -cipher 'DEFAULT:@SECLEVEL=0' -cert "$T/leaf.pem" -key "$T/key.pem" -www < /dev/null
wait_port "$p11"
tls11 "$p11"
rc=$?
ok "the TLS 1.1 client completes a handshake with a server that accepts 1.1" \
    '[ $rc = 0 ] && grep -q "Protocol *: TLSv1\.1" "$T/s11" && ! grep -q "Cipher is (NONE)" "$T/s11"'
halt "$old"

start_slua -H 1 --tls-cert "$T/chain.pem" --tls-key "$T/key.pem" "$EX/http-handler.lua"
h=$(hpids 1)
is "$(curl -s -m 10 --cacert "$T/ca.pem" "https://localhost:$port/tls" --resolve "localhost:$port:127.0.0.1")" \
    "hello /tls" "curl verifies the chain and gets an answer"
is "$(curl -sk -m 10 "https://127.0.0.1:$port/k")" "hello /k" "curl -k over TLS"
got=$(printf 'GET /s HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" 2>/dev/null | tail -1)
is "$got" "hello /s" "openssl s_client (no SNI needed)"
# The server must close a connection that failed the handshake: the client
# sees the end of it at once, not when its own timeout runs out.
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 4 nc -N -w 10 127.0.0.1 "$port" > "$T/plain"
rc=$?
ok "plain text on the TLS port gets nothing, and the server closes the connection" \
    '[ $rc = 0 ] && [ ! -s "$T/plain" ]'
ok "no accepted connection is left open" 'wait_for 3 "[ \$(accepted) = 0 ]"'
is "$(curl -sk -m 10 "https://127.0.0.1:$port/after")" "hello /after" "then a TLS client is served"
ok "by the same handler, alive" 'same "$h" && alive "$srv"'
like "$(cat "$T/log")" "slua: handler: 127\.0\.0\.1:[0-9]+: tls: " "the failed handshake is logged"
tls11 "$port"
rc=$?
ok "TLS 1.1 is refused" '[ $rc != 0 ] && grep -q "Cipher is (NONE)" "$T/s11"'
like "$(cat "$T/log")" "127\.0\.0\.1:[0-9]+: tls: .*unsupported protocol" "the refusal is logged"
ok "the refused client's connection is closed" 'wait_for 3 "[ \$(accepted) = 0 ]"'
is "$(curl -sk -m 10 "https://127.0.0.1:$port/again")" "hello /again" "the handler survives a refused TLS 1.1 client"
ok "the same handler all along" 'same "$h"'
stop "$srv" "the TLS server stops on TERM"

start_slua -H 1 --tls-cert "$T/chain.pem" --tls-key "$T/key.pem" 'print(client.tls)'
is "$(curl -sk -m 10 --http0.9 "https://127.0.0.1:$port/")" "true" "client.tls is true"
stop "$srv" "the client.tls server stops on TERM"

run "$SLUA" -p "$port" -l 127.0.0.1 --tls-cert "$T/chain.pem" --tls-key "$T/nokey.pem" 'print(1)'
check "a missing key file" 1 ""
like "$(cat "$T/err")" "^slua: tls-key $T/nokey.pem: " "a missing key is named"
run "$SLUA" -p "$port" -l 127.0.0.1 --tls-cert "$T/chain.pem" 'print(1)'
check "a certificate without a key" 1 "" "slua: --tls-cert needs --tls-key too"

done_testing
