# The options of slua(1) as spelled in full, and what tcp mode promises about
# listen addresses, SIGINT, the grace period, restarts and client.read().
. "$(dirname "$0")/lib.sh"
plan 53

port=$(free_port)

# The pids of $srv's children of role $1 once $2 of them are up.
up() {
	wait_for 5 "[ \$(procs $srv $1 | wc -l) -ge $2 ]"
	procs "$srv" "$1" | sort
}
# The addresses listening on $port, sorted.
listening() { ss -Hltn "( sport = :$port )" | awk '{ print $4 }' | sort; }
# start_slua, but waiting for the port with ss, not with a connection that a
# handler would take.
start() {
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 "$@" 2> "$T/log"
	wait_for 5 '[ -n "$(listening)" ]' || diag "the server did not start: $(tail -3 "$T/log")"
}
# None of the pids is running.
none_alive() {
	for _p in "$@"; do
		if alive "$_p"; then return 1; fi
	done
}
# The title a process gave itself (the first word of its command line).
title() { tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | head -1; }

# -V, --version, -h, --help
run "$SLUA" -V
v=$(cat "$T/out")
run "$SLUA" --version
check "--version prints what -V prints, and exits 0" 0 "$v" ""
run "$SLUA" -h
h=$(cat "$T/out")
check "-h exits 0, nothing on standard error" 0 "$h" ""
like "$h" '^usage: slua \[options\] \[handler \[worker\]\] \[-- args\]' "-h starts with the usage line"
run "$SLUA" --help
check "--help prints what -h prints" 0 "$h" ""
missing=$(grep -o 'Fl Fl [a-z-]*' "$REGRESS/../man/slua.1" | awk '{ print $3 }' | sort -u |
    while read -r o; do printf '%s\n' "$h" | grep -q -- "--$o\b" || echo "--$o"; done)
is "$missing" "" "--help names every long option slua(1) documents"

# --port, --listen twice, --handlers, --workers, --verbose.
cat > "$T/w.lua" <<'LUA'
while true do work.answer(work.accept() .. "!") end
LUA
serve srv "$SLUA" --port "$port" --listen 127.0.0.1 --listen 127.0.0.2 \
    --handlers 3 --workers 2 --verbose \
    'work.submit(client.line() or "-") print(work.collect())' "$T/w.lua" 2> "$T/log"
wait_for 5 '[ "$(listening | wc -l)" = 2 ]'
is "$(listening)" "127.0.0.1:$port
127.0.0.2:$port" "--port, --listen twice: both addresses, and only they, listen"
is "$(echo a | nc -N -w 5 127.0.0.1 "$port")" "a!" "a client of 127.0.0.1 is served"
is "$(echo b | nc -N -w 5 127.0.0.2 "$port")" "b!" "a client of 127.0.0.2 is served"
is "$(up handler 3 | wc -l)" 3 "--handlers 3: three handlers"
workers=$(up worker 2)
is "$(echo "$workers" | wc -w)" 2 "--workers 2: two workers"
is "$(sed -n 's/^slua: broker: worker \([0-9]*\) started$/\1/p' "$T/log" | sort)" "$workers" \
    "--verbose: the broker logs each worker it starts"
stop "$srv" "the --port --listen server stops on TERM"
like "$(cat "$T/log")" "slua: supervisor: generation 1 is gone" "--verbose: the supervisor logs its generation's end"

# No -l: the wildcard addresses of IPv4 and IPv6.  No -v: no debug lines.
ipv6=0
grep -q '^0*1 ' /proc/net/if_inet6 2>/dev/null && ipv6=1
serve srv "$SLUA" -p "$port" -H 1 -W 1 'print(client.ip)' "$T/w.lua" 2> "$T/log"
wait_for 5 '[ "$(listening | wc -l)" -ge 1 ]'
up worker 1 > /dev/null
if [ $ipv6 = 1 ]; then want="0.0.0.0:$port
[::]:$port"; else want="0.0.0.0:$port"; fi
is "$(listening)" "$want" "no -l: the IPv4 and IPv6 wildcard addresses listen"
is "$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)" "127.0.0.1" "a client of 127.0.0.1 is served"
if [ $ipv6 = 1 ]; then
	is "$(nc -N -w 5 ::1 "$port" < /dev/null)" "::1" "a client of ::1 is served"
else
	skip "a client of ::1" "no ::1 here"
fi
stop "$srv" "the wildcard server stops on TERM"
ok "without -v, no debug lines" '! grep -Eq "worker [0-9]+ started|generation 1 is gone" "$T/log"'

# -v, short
start -v -H 1 -W 1 'print(1)' "$T/w.lua"
workers=$(up worker 1)
ok "-v: debug lines" 'wait_for 5 "grep -qx \"slua: broker: worker $workers started\" \"$T/log\""'
stop "$srv" "the -v server stops on TERM"

# --ssl-cert and --ssl-key, the other spelling of --tls-cert and --tls-key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
start -H 1 --ssl-cert "$T/cert.pem" --ssl-key "$T/key.pem" 'print("tls", client.tls)'
is "$(curl -sk -m 10 --http0.9 "https://127.0.0.1:$port/")" "tls	true" "--ssl-cert, --ssl-key: TLS"
stop "$srv" "the --ssl-cert server stops on TERM"

# --config, --configtest
cat > "$T/h.lua" <<'LUA'
print("from the config file")
LUA
cat > "$T/o.conf" <<EOF
port = $port
listen = "127.0.0.1"
handlers = 2
handler = "$T/h.lua"
EOF
run "$SLUA" --configtest --config "$T/o.conf"
check "--configtest --config" 0 "configuration OK" ""
serve srv "$SLUA" --config "$T/o.conf" 2> "$T/log"
wait_for 5 '[ -n "$(listening)" ]'
is "$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)" "from the config file" "--config: port, listen and handler from the file"
is "$(up handler 2 | wc -l)" 2 "--config: handlers from the file"
stop "$srv" "the --config server stops on TERM"

# --daemon
run "$SLUA" --daemon -p "$port" -l 127.0.0.1 -H 1 -W 1 --pidfile "$T/pid" 'print("daemon")' "$T/w.lua"
check "--daemon: returns at once, exit 0, prints nothing" 0 ""
d=$(cat "$T/pid" 2>/dev/null)
[ -n "$d" ] && adopt "$d"
ok "the pidfile names the supervisor, in a session of its own" \
    '[ -n "$d" ] && [ "$(title "$d")" = "slua: supervisor" ] && [ "$(ps -o sid= -p "$d")" != "$(ps -o sid= -p $$)" ]'
wait_for 5 '[ -n "$(listening)" ]'
is "$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)" "daemon" "the daemon serves"
kids=$( (pgrep -P "${d:-0}"; procs "${d:-0}" worker) | tr "\n" " ")
ok "it has its handler, broker and worker" '[ "$(echo $kids | wc -w)" = 3 ]'
[ -n "$d" ] && kill -TERM "$d"
ok "TERM stops the daemon and removes its pidfile" \
    '[ -n "$d" ] && wait_for 15 "! alive $d" && [ ! -e "$T/pid" ]'
ok "and its children" 'wait_for 5 "none_alive $kids"'

# SIGINT in tcp mode: as TERM, a connection in progress finishes, with its
# job, then every process ends and slua exits 0.
start -H 2 -W 1 --greeting 'client.write("start\n") os.usleep(500000)
work.submit("job") print(work.collect())' "$T/w.lua"
up handler 2 > /dev/null
up worker 1 > /dev/null
kids=$( (pgrep -P "$srv"; procs "$srv" worker) | tr "\n" " ")
exec 5<>"/dev/tcp/127.0.0.1/$port"
read -r -t 5 first <&5
kill -INT "$srv"
rest=$(timeout 5 cat <&5)
exec 5<&-
is "$first|$rest" "start|job!" "SIGINT: the connection in progress finishes, with its job"
ok "SIGINT: slua exits" 'wait_for 10 "! alive $srv"'
alive "$srv" && kill -KILL "$srv"
wait "$srv"
is "$?" 0 "SIGINT: exit status 0"
ok "SIGINT: handlers, broker and worker ($(echo $kids)) are gone" \
    '[ "$(echo $kids | wc -w)" = 4 ] && wait_for 5 "none_alive $kids"'
ok "SIGINT: nothing is left in its process group" \
    'wait_for 5 "[ -z \"\$(ps -o stat= -g $srv | grep -v Z)\" ]"'

# --grace running out: a connection still busy at TERM is cut, slua exits.
start -H 1 --grace 1 --greeting 'client.write("busy\n") while true do end'
busy=$(up handler 1)
exec 5<>"/dev/tcp/127.0.0.1/$port"
read -r -t 5 first <&5
is "$first" "busy" "a connection is busy"
t0=$(now_ms)
stop "$srv" "--grace 1: TERM with a connection still busy, slua exits 0"
ms=$(($(now_ms) - t0))
timeout 2 cat <&5 > /dev/null
rc=$?
exec 5<&-
ok "after the grace, not before ($ms ms)" '[ "$ms" -ge 900 ] && [ "$ms" -lt 3500 ]'
ok "the busy connection was cut" '[ $rc = 0 ]'
ok "the busy handler is gone" '[ -n "$busy" ] && ! alive "$busy"'

# Restarts back off: a handler that dies young, again and again, is
# restarted after pauses of 100, 200, 400, 800 ms.
start -H 1 'if client.line() == "die" then os.exit(3) end print("ok")'
up handler 1 > /dev/null
t0=$(now_ms)
dying=""
for i in 1 2 3 4 5; do
	echo die | nc -N -w 10 127.0.0.1 "$port" > /dev/null &
	dying="$dying $!"
done
wait $dying	# each bounded by nc -w
got=$(echo live | nc -N -w 10 127.0.0.1 "$port")
ms=$(($(now_ms) - t0))
is "$(grep -c "slua: supervisor: handler [0-9]* died: exit status 3" "$T/log")" 5 "five handlers died, each logged"
is "$(grep -o 'handler failing at start: next in [0-9]* ms' "$T/log" | tr -cd '0-9 \n' | tr -s ' \n' ' ')" \
    " 100 200 400 800 " "restarts back off: pauses of 100, 200, 400, 800 ms, each logged"
is "$got" "ok" "then the restarted handler serves"
ok "after the pauses ($ms ms)" '[ "$ms" -ge 1400 ] && [ "$ms" -lt 6000 ]'
stop "$srv" "the failing handlers' server stops on TERM"

# client.read() without a count: at most --max-job-size bytes.
start -H 1 --max-job-size 1k 'local s, e = client.read() print(s and #s, e)'
is "$(head -c 1024 /dev/zero | nc -N -w 5 127.0.0.1 "$port")" "1024	nil" \
    "client.read(): --max-job-size bytes are read"
is "$(head -c 1025 /dev/zero | nc -N -w 5 127.0.0.1 "$port")" "nil	input too large" \
    "client.read(): one byte more is \"input too large\""
stop "$srv" "the client.read server stops on TERM"

# --require loads a module in tcp mode (where -l is an address), and in
# stdio mode.
mkdir "$T/mods"
echo 'return { v = 42 }' > "$T/mods/mymod.lua"
LUA_PATH="$T/mods/?.lua;;" start -H 1 --require mymod \
    'local m = package.loaded.mymod print(m and m.v)'
is "$(nc -N -w 5 127.0.0.1 "$port" < /dev/null)" "42" "--require in tcp mode: the handler has the module"
stop "$srv" "the --require server stops on TERM"
run env LUA_PATH="$T/mods/?.lua;;" "$SLUA" -W 1 --require mymod \
    'local m = package.loaded.mymod print(m and m.v)' "$T/w.lua"
check "--require in stdio mode: the handler has the module" 0 "42" ""

done_testing
