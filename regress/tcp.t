# tcp mode: the supervisor, preforked handlers, the client API, TLS.
. "$(dirname "$0")/lib.sh"

EX="$REGRESS/../conf/examples"
port=$(free_port)
url="http://127.0.0.1:$port"

# start_slua args...: a server on $port, its pid in $srv, its log in $T/log
start_slua() {
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 "$@" 2> "$T/log"
	wait_port "$port" || echo "# server did not start"
}

start_slua -H 2 "$EX/http-handler.lua"
is "$(curl -s "$url/one")" "hello /one" "curl gets an answer"

: > "$T/urls"
for i in $(seq 1 1000); do echo "url = \"$url/$i\"" >> "$T/urls"; echo "output = /dev/null" >> "$T/urls"; done
curl -s --parallel --parallel-max 16 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null
is "$(grep -c '^200$' "$T/codes")" 1000 "1,000 requests, 16 in parallel, all answered"

kids=$(pgrep -P "$srv" | wc -l)
is "$kids" 2 "-H 2: two handler processes"
titles=$(for p in $(pgrep -P "$srv"); do tr '\0' '\n' < /proc/$p/cmdline | head -1; done | sort -u)
is "$titles" "slua: handler" "handlers are titled"
stop "$srv"

# Globals do not leak from one connection to the next.
cat > "$T/count.lua" <<'LUA'
counter = (counter or 0) + 1
print(counter, rawget(_G, "counter"), type(string.format))
LUA
start_slua -H 1 "$T/count.lua"
a=$(nc -q 1 127.0.0.1 "$port" < /dev/null)
b=$(nc -q 1 127.0.0.1 "$port" < /dev/null)
is "$a|$b" "1	1	function|1	1	function" "globals are fresh for each connection"
stop "$srv"

# A Lua error in one connection; the next is served.
cat > "$T/err.lua" <<'LUA'
local l = client.line()
if l == "boom" then error("bad request") end
print("ok " .. l)
LUA
start_slua -H 1 "$T/err.lua"
a=$(echo boom | nc -q 1 127.0.0.1 "$port")
b=$(echo fine | nc -q 1 127.0.0.1 "$port")
is "$a|$b" "|ok fine" "after an error the handler serves the next client"
like "$(cat "$T/log")" "slua: handler: 127\.0\.0\.1:[0-9]+: .*err\.lua:2: bad request" \
    "the error is logged with the client's address"
stop "$srv"

# client.ip, client.port, client.tls, print to the client, read(n).
start_slua -H 1 'print(client.ip, type(client.port), client.tls)
client.write(client.read(3) .. "|" .. client.read() .. "\n")'
is "$(printf 'abcdef' | nc -q 1 127.0.0.1 "$port")" "127.0.0.1	number	false
abc|def" "client.ip, client.port, client.tls, read(n), read()"
stop "$srv"

# --max-line
start_slua -H 1 --max-line 10 'print(client.line()) print(client.line())'
is "$( (printf '0123456789ABCDEF\nshort\n') | nc -q 1 127.0.0.1 "$port")" \
    "nil	line too long
short" "a line over --max-line"
stop "$srv"

# --timeout: an idle client times out; another client is served meanwhile.
start_slua -H 2 --timeout 1 'local l, err = client.line() print(l, err)'
( sleep 3 | nc 127.0.0.1 "$port" > "$T/idle" ) &
idle=$!
sleep 0.2
is "$(echo hi | nc -q 1 127.0.0.1 "$port")" "hi	nil" "another client is served while one idles"
wait $idle
is "$(cat "$T/idle")" "nil	timeout" "the idle client gets a timeout"
stop "$srv"

# --max-requests: a handler is replaced after n connections.
start_slua -H 1 --max-requests 2 'local f = io.open("/proc/self/stat") print(f:read("*n")) f:close()'
p1=$(nc -q 1 127.0.0.1 "$port" < /dev/null)
p2=$(nc -q 1 127.0.0.1 "$port" < /dev/null)
p3=$(nc -q 1 127.0.0.1 "$port" < /dev/null)
ok "--max-requests 2: same handler twice, then a new one" \
    [ -n "$p1" ] && [ "$p1" = "$p2" ] && [ "$p3" != "$p1" ] && [ -n "$p3" ]
stop "$srv"

# Handlers submit jobs to workers, one round trip per request.
start_slua -H 2 -W 2 "$EX/http-handler.lua" \
    'while true do work.answer("job " .. work.accept()) end'
is "$(curl -s "$url/a")" "job /a" "a request's job runs on a worker"
: > "$T/urls"
for i in $(seq 1 200); do echo "url = \"$url/$i\"" >> "$T/urls"; done
curl -s --parallel --parallel-max 16 -K "$T/urls" 2>/dev/null | sort > "$T/got"
seq 1 200 | sed 's|^|job /|' | sort > "$T/want"
ok "200 requests, each with its own job's answer" cmp -s "$T/got" "$T/want"

# kill -9 a handler under load: the pool is restored, requests answered.
: > "$T/urls"
for i in $(seq 1 400); do echo "url = \"$url/$i\"" >> "$T/urls"; echo "output = /dev/null" >> "$T/urls"; done
curl -s --parallel --parallel-max 8 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null &
load=$!
sleep 0.1
victim=$(pgrep -P "$srv" -f 'slua: handler' | head -1)
kill -9 "$victim"
wait $load
sleep 0.3
is "$(pgrep -P "$srv" -f 'slua: handler' | wc -l)" 2 "the killed handler is replaced"
ok "the killed handler is gone" [ -n "$victim" ] && ! kill -0 "$victim" 2>/dev/null
: > "$T/urls"
for i in $(seq 1 100); do echo "url = \"$url/$i\"" >> "$T/urls"; echo "output = /dev/null" >> "$T/urls"; done
curl -s --parallel --parallel-max 8 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null
is "$(grep -c '^200$' "$T/codes")" 100 "every later request is answered"
like "$(cat "$T/log")" "handler [0-9]+ died: killed by signal 9" "the death is logged"
stop "$srv"

start_slua -H 1 'work.submit("x")'
echo | nc -q 1 127.0.0.1 "$port" > /dev/null
stop "$srv"
like "$(cat "$T/log")" "no workers" "without a worker script, submit raises \"no workers\""

# Port in use: a clear error, non-zero exit, nothing left running.
socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork EXEC:true &
blocker=$!
_pids="$_pids $blocker"
wait_port "$port"
run "$SLUA" -p "$port" -l 127.0.0.1 'print(1)'
check "port in use" 1 "" "slua: bind 127.0.0.1:$port: Address already in use"
kill $blocker; wait $blocker 2>/dev/null

run "$SLUA" -p "$port" -l 256.1.2.3 'print(1)'
check "an invalid address" 1 ""
like "$(cat "$T/err")" "^slua: listen 256\.1\.2\.3: " "an invalid address is named"

# IPv6
if [ -f /proc/net/if_inet6 ] && grep -q '^0*1 ' /proc/net/if_inet6 2>/dev/null ||
    ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
	serve srv "$SLUA" -p "$port" -l ::1 -H 1 'print(client.ip)' 2> "$T/log"
	sleep 0.3
	is "$(nc -q 1 ::1 "$port" < /dev/null)" "::1" "IPv6: client.ip is ::1"
	stop "$srv"
else
	skip "IPv6 listener" "no ::1 here"
fi

# TLS
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" \
    -days 2 -subj /CN=slua-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/req.pem" \
    -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$T/ext"
openssl x509 -req -in "$T/req.pem" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
    -CAcreateserial -out "$T/leaf.pem" -days 2 -extfile "$T/ext" 2>/dev/null
cat "$T/leaf.pem" "$T/ca.pem" > "$T/chain.pem"

start_slua -H 1 --tls-cert "$T/chain.pem" --tls-key "$T/key.pem" "$EX/http-handler.lua"
is "$(curl -s --cacert "$T/ca.pem" "https://localhost:$port/tls" --resolve "localhost:$port:127.0.0.1")" \
    "hello /tls" "curl verifies the chain and gets an answer"
is "$(curl -sk "https://127.0.0.1:$port/k")" "hello /k" "curl -k over TLS"
got=$(printf 'GET /s HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port 2>/dev/null | tail -1)
is "$got" "hello /s" "openssl s_client (no SNI needed)"
is "$(echo 'GET / HTTP/1.0' | nc -q 1 127.0.0.1 "$port" | head -c 4)" "" "plain text on the TLS port gets nothing"
is "$(curl -sk "https://127.0.0.1:$port/after")" "hello /after" "then a TLS client is served"
like "$(cat "$T/log")" "slua: handler: 127\.0\.0\.1:[0-9]+: tls: " "the failed handshake is logged"
got=$(timeout 10 openssl s_client -tls1_1 -connect 127.0.0.1:$port < /dev/null 2>&1)
ok "TLS 1.1 is refused" [ $? -ne 0 ] 
is "$(curl -sk "https://127.0.0.1:$port/again")" "hello /again" "the handler survives a refused TLS 1.1 client"
stop "$srv"

start_slua -H 1 --tls-cert "$T/chain.pem" --tls-key "$T/key.pem" 'print(client.tls)'
is "$(curl -sk --http0.9 "https://127.0.0.1:$port/")" "true" "client.tls is true"
stop "$srv"

run "$SLUA" -p "$port" -l 127.0.0.1 --tls-cert "$T/chain.pem" --tls-key "$T/nokey.pem" 'print(1)'
check "a missing key file" 1 ""
like "$(cat "$T/err")" "^slua: tls-key $T/nokey.pem: " "a missing key is named"
run "$SLUA" -p "$port" -l 127.0.0.1 --tls-cert "$T/chain.pem" 'print(1)'
check "a certificate without a key" 1 "" "slua: --tls-cert needs --tls-key too"

done_testing
