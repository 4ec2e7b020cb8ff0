# tcp mode: client.keepalive().  A kept connection waits for its next
# request in C, costing no handler; the script runs again, from the top,
# when the request's first line has come.
. "$(dirname "$0")/lib.sh"
plan 48

SC="python3 $REGRESS/slowclient.py"
port=$(free_port)
cat > "$T/ka.lua" <<'LUA'
-- One request per run: the request line, the headers, a fixed answer.
local req = client.line()
if not req then return end
repeat local h = client.line() until h == nil or h == ""
n = (n or 0) + 1
client.write("HTTP/1.1 200 OK\r\nX-Runs: " .. n ..
  "\r\nContent-Length: 6\r\n\r\nhello\n")
client.keepalive()
LUA

start_slua -H 4 "$T/ka.lua"
is "$(timeout 60 $SC keepalive "$port" 64 20)" "64 20 20" \
    "-H 4: each of 64 keep-alive connections gets its 20 answers"
is "$(curl -s -m 10 -w '%{num_connects}\n' "http://127.0.0.1:$port/a" \
    "http://127.0.0.1:$port/b")" "hello
1
hello
0" "curl makes two requests on one connection"
got=$(printf 'GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n' |
    timeout 10 nc -w 3 127.0.0.1 "$port" | grep -c '^X-Runs: 1')
is "$got" 2 "two pipelined requests: both answered, each run with fresh globals"
# The set of held connections costs memory as it is used, not at start.
dirty() {
	for h in $(hpids 4); do
		awk '$1 == "Private_Dirty:" { print $2 }' "/proc/$h/smaps_rollup"
	done | sort -n | tail -1
}
if grep -q __asan_init "$SLUA"; then
	skip "a handler at rest holds under 512 KiB" "AddressSanitizer"
else
	kib=$(dirty)
	ok "a handler at rest holds under 512 KiB of private memory ($kib)" \
	    '[ -n "$kib" ] && [ "$kib" -lt 512 ]'
fi
stop "$srv" "the keep-alive server stops on TERM"

# Idle kept connections do not hold the handler, and end at --timeout.
start_slua -H 1 --timeout 2 "$T/ka.lua"
h=$(hpids 1)
timeout 30 $SC idle "$port" 200 5 > "$T/idle" 2>&1 &
ipid=$!
ok "200 kept connections are open" 'wait_for 10 "[ \$(accepted) -ge 200 ]"'
t0=$(now_ms)
got=$(curl -s -m 10 "http://127.0.0.1:$port/")
ms=$(($(now_ms) - t0))
is "$got" "hello" "with 200 idle kept connections and -H 1, a new client is answered"
ok "at once ($ms ms)" '[ "$ms" -lt 1500 ]'
wait "$ipid"
is "$(cat "$T/idle")" "200 200" \
    "each idle kept connection had its answer and was closed after --timeout"
ok "by the one handler process" 'same "$h"'
stop "$srv" "the idle keep-alive server stops on TERM"

# The status listener tells how many connections the handlers hold.
sport=$(free_port)
held() {
	curl -s -m 2 "http://127.0.0.1:$sport/metrics" |
	    sed -n 's/^slua_connections_held //p'
}
start_slua -H 1 --timeout 10 --status "127.0.0.1:$sport" "$T/ka.lua"
timeout 30 $SC idle "$port" 20 3 > "$T/idle2" 2>&1 &
ipid=$!
ok "20 idle kept connections: slua_connections_held 20" \
    'wait_for 10 "[ \"\$(held)\" = 20 ]"'
wait "$ipid"
ok "once they have gone: slua_connections_held 0" \
    'wait_for 10 "[ \"\$(held)\" = 0 ]"'
stop "$srv" "the status server stops on TERM"

# A kept connection whose next request comes while its handler runs a
# long script is served by the idle handler, with what it sent before.
# The script answers a line with itself and its pid; "wait NAME" first
# says who waits (busy-NAME) and waits for the test's go-NAME.
cat > "$T/pass.lua" <<LUA
local req = client.line()
if not req then return end
local pid = io.open("/proc/self/stat"):read("*n")
local name = req:match("^wait (%S+)")
if name then
  local f = io.open("$T/busy-" .. name, "w") f:write(pid) f:close()
  for _ = 1, 3000 do
    if io.open("$T/go-" .. name) then break end
    os.usleep(10000)
  end
end
client.write(req .. " " .. pid .. "\n")
client.keepalive()
LUA
# Make handler $1 (of 2) busy: a client waits there.  One that waits at
# the other handler first is let go once the next waits at $1, the only
# one idle.  Prints the name of the client that waits at $1.
busy_at() {
	for n in b c; do
		exec {w}<>"/dev/tcp/127.0.0.1/$port"
		printf 'wait %s\n' "$n" >&$w
		wait_for 10 "[ -s \"$T/busy-$n\" ]"
		if [ "$(cat "$T/busy-$n")" = "$1" ]; then
			[ "$n" = b ] || touch "$T/go-b"
			echo "$n"
			return
		fi
	done
	touch "$T/go-b"
}
start_slua -H 2 "$T/pass.lua"
exec {a}<>"/dev/tcp/127.0.0.1/$port"
printf 'one\n' >&$a
read -t 10 -r got <&$a
x=${got##* }
printf 'two' >&$a
name=$(busy_at "$x")
ok "a client waits at handler $x, which keeps connection A" \
    '[ -n "$name" ] && [ ! -e "$T/go-$name" ]'
printf ' more\nthree\n' >&$a
got=$(read -t 10 -r l1 <&$a && read -t 10 -r l2 <&$a && echo "$l1/$l2")
y=${got##* }
is "$got" "two more $y/three $y" \
    "A's request, begun before: answered whole, as is the one pipelined"
ok "by the other handler ($y), while $x still waits" \
    '[ "$y" != "$x" ] && [ "$(procs "$srv" handler | grep -cx "$y")" = 1 ] && [ ! -e "$T/go-$name" ]'
touch "$T/go-$name"
printf 'four\n' >&$a
read -t 10 -r got <&$a
is "$got" "four $y" "A stays with the handler that took it"
exec {a}>&-
stop "$srv" "the server that passed a connection stops on TERM"

# The same for a new client whose first line was not complete when its
# handler got busy: with one handler (y) busy, the other (x) takes the
# client, then a script that waits; y is let go, and the line ends.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 "$T/pass.lua"
exec {w1}<>"/dev/tcp/127.0.0.1/$port"
printf 'wait b\n' >&$w1
wait_for 10 "[ -s \"$T/busy-b\" ]"
exec {c}<>"/dev/tcp/127.0.0.1/$port"
printf 'hel' >&$c
exec {w2}<>"/dev/tcp/127.0.0.1/$port"
printf 'wait d\n' >&$w2
wait_for 10 "[ -s \"$T/busy-d\" ]"
x=$(cat "$T/busy-d") y=$(cat "$T/busy-b")
touch "$T/go-b"
read -t 10 -r got <&$w1
printf 'lo\n' >&$c
read -t 10 -r got <&$c
is "$got" "hello $y" "a new client's line, ended while its handler is busy: answered by the idle one"
ok "while the other ($x) still waits" '[ "$x" != "$y" ] && [ ! -e "$T/go-d" ]'
touch "$T/go-d"
exec {c}>&- {w1}>&- {w2}>&-
stop "$srv" "that server stops on TERM"

# A request that comes on a kept connection while every handler is busy
# stays with its own (none could take it) until another is idle, and then
# goes to that one, though its own is busy still.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 "$T/pass.lua"
unread() {
	ss -Htn state established "( sport = :$port )" |
	    awk '{ n += $1 } END { print n + 0 }'
}
exec {a}<>"/dev/tcp/127.0.0.1/$port"
printf 'one\n' >&$a
read -t 10 -r got <&$a
x=${got##* }
name=$(busy_at "$x")
exec {e}<>"/dev/tcp/127.0.0.1/$port"
printf 'wait e\n' >&$e
wait_for 10 "[ -s \"$T/busy-e\" ]"
y=$(cat "$T/busy-e")
printf 'two\n' >&$a
ok "both handlers busy, A's request is read" \
    '[ "$y" != "$x" ] && wait_for 10 "[ \$(unread) = 0 ]"'
touch "$T/go-e"
read -t 10 -r got <&$a
is "$got" "two $y" "once the other handler is idle, A's request goes to it"
ok "while A's own still waits" '[ ! -e "$T/go-$name" ]'
touch "$T/go-$name"
exec {a}>&- {e}>&-
stop "$srv" "that server stops on TERM"

# TERM while a handler runs a long script: a request that then comes on
# a connection it keeps is not passed to a handler that is leaving, nor
# lost; its own handler answers it once the script ends.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 "$T/pass.lua"
exec {a}<>"/dev/tcp/127.0.0.1/$port"
printf 'one\n' >&$a
read -t 10 -r got <&$a
x=${got##* }
name=$(busy_at "$x")
kill -TERM "$srv"
ok "stopping, the idle handler leaves, the busy one stays" \
    'wait_for 15 "[ \"\$(procs $srv handler)\" = $x ]"'
printf 'five\n' >&$a
touch "$T/go-$name"
read -t 10 -r got <&$a
is "$got" "five $x" "A's request then is answered by its handler"
exec {a}>&-
wait_for 15 "! alive $srv"
wait "$srv"
rc=$?
ok "then slua exits 0" '[ $rc = 0 ]'

# A reload (HUP) while a handler runs a long script: a request that comes
# on a connection it keeps is served by a new handler meanwhile.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 "$T/pass.lua"
exec {a}<>"/dev/tcp/127.0.0.1/$port"
printf 'one\n' >&$a
read -t 10 -r got <&$a
x=${got##* }
name=$(busy_at "$x")
old=$(procs "$srv" handler)
fresh() { procs "$srv" handler | grep -cvxF -e "$old"; }
kill -HUP "$srv"
ok "reloading: two new handlers serve" 'wait_for 15 "[ \$(fresh) = 2 ]"'
printf 'six\n' >&$a
read -t 10 -r got <&$a
like "$got" "^six [0-9]+$" "A's request is answered"
ok "by a new handler, while the old one ($x) still waits" \
    '[ -n "$got" ] && ! printf "%s\n" "$old" | grep -qx "${got##* }" && [ ! -e "$T/go-$name" ]'
touch "$T/go-$name"
exec {a}>&-
stop "$srv" "the reloaded server stops on TERM"

# More ready connections than the handlers' shared socket holds, while
# every handler is busy: few are passed (no more than the tokens the
# handlers put in when they last waited), so the socket never fills;
# each is answered.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 "$T/pass.lua"
ulimit -n 4096
got=$(timeout 60 $SC busy "$port" "$T" 800)
like "$got" "^800 " "with every handler busy, 800 ready kept connections are all answered"
ok "none was passed while no handler was idle: the socket never filled" \
    '! grep -q "handoff: no handler takes them" "$T/log"'
stop "$srv" "the server with a full handoff socket stops on TERM"

# The same with 200, but one handler stays busy: the ready connections
# the busy one holds go to the other as it takes those passed before
# (and so waits, and puts its tokens back), all while the first is busy.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 "$T/pass.lua"
got=$(timeout 60 $SC busyone "$port" "$T" 200)
like "$got" "^200 0 " \
    "with one handler busy for good, 200 ready kept connections are all answered by the other"
ok "of which the busy one held more than its tokens ($got)" \
    '[ "${got##* }" -gt 40 ]'
stop "$srv" "that server stops on TERM"

# Not under TLS, nor with --greeting: the connection closes as before.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
start_slua -H 1 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
    'client.line() print(client.keepalive())'
is "$(curl -sk -m 10 --http0.9 "https://127.0.0.1:$port/")" "false" \
    "under TLS, client.keepalive() is false and the connection closes"
stop "$srv" "the TLS server stops on TERM"
# Under TLS nothing is passed: with one handler waiting, a client is the
# other's, and closes after its answer.
rm -f "$T"/busy-* "$T"/go-*
start_slua -H 2 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" "$T/pass.lua"
# (-quiet reads on past the end of its input: the connection stays open.)
printf 'wait t\n' > "$T/wait-t"
timeout 30 openssl s_client -quiet -connect "127.0.0.1:$port" \
    < "$T/wait-t" > "$T/tls-t" 2>/dev/null &
tpid=$!
ok "a TLS client waits at one handler" 'wait_for 10 "[ -s \"$T/busy-t\" ]"'
got=$(printf 'one\n' | timeout 10 openssl s_client -quiet \
    -connect "127.0.0.1:$port" 2>/dev/null)
like "$got" "^one [0-9]+$" "another TLS client is answered, and its connection closes"
ok "by the other handler" '[ "${got##* }" != "$(cat "$T/busy-t")" ]'
touch "$T/go-t"
wait "$tpid"
is "$(cat "$T/tls-t")" "wait t $(cat "$T/busy-t")" \
    "the waiting TLS client has its answer once let go"
stop "$srv" "that TLS server stops on TERM"
start_slua -H 1 --greeting 'print(client.keepalive())'
is "$(timeout 10 nc -w 5 127.0.0.1 "$port" < /dev/null)" "false" \
    "with --greeting, client.keepalive() is false"
stop "$srv" "the --greeting server stops on TERM"

done_testing
