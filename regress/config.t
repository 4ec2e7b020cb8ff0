# slua.conf(5): every setting, set in a file and seen to take effect; the
# command line winning over the file; errors with file and line; the
# default /etc/slua.conf, in a private mount namespace.
. "$(dirname "$0")/lib.sh"
plan 86

EX="$REGRESS/../conf/examples"
luajit=0
"$SLUA" -V | grep -q LuaJIT && luajit=1

count() {	# pid role: how many of its descendants have that role
	procs "$1" "$2" | wc -l
}
# The addresses listening on a port, sorted, as ss prints them.
addrs() {
	ss -Hltn "sport = :$1" | awk '{ print $4 }' | sort | tr '\n' ' '
}
descendants() {
	for _c in $(pgrep -P "$1"); do echo "$_c"; descendants "$_c"; done
}
all_gone() {	# pids...: none of them is running
	for _p in "$@"; do alive "$_p" && return 1; done
	return 0
}
field() {	# status-file-field pid: e.g. field Uid 1234
	awk -v f="$1:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$2/status"
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---------------------------------------------------------------------------
# -n: a good file, and errors that name the file and line.
cat > "$T/good.conf" <<CONF
-- a test configuration
port = 9
listen = { "127.0.0.1" }
handler = "$EX/http-handler.lua"
worker = "$EX/hello-worker.lua"
handlers = 2
max_job_size = "1m"
CONF
run "$SLUA" -n -f "$T/good.conf"
check "-n on a good config" 0 "configuration OK" ""
printf 'port = 80\nhandlers = 2\nbogus = 1\n' > "$T/bad.conf"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on an unknown setting: file and line" 1 "" "slua: $T/bad.conf:3: unknown setting 'bogus'"
printf 'port = 80\nhandlers = "many"\n' > "$T/bad.conf"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on a bad value: file and line" 1 "" "slua: $T/bad.conf:2: handlers many: invalid"
printf 'port = 80\n\nhandlers = {}\n' > "$T/bad.conf"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on a value of the wrong type" 1 "" "slua: $T/bad.conf:3: handlers: a table is no value for this setting"
printf 'port = 80\nhandlers = = 2\n' > "$T/bad.conf"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on a syntax error" 1 "" "slua: $T/bad.conf:2: unexpected symbol near '='"
printf 'port = 80\nhandler = "%s/broken.lua"\n' "$T" > "$T/bad.conf"
printf 'local x = \n' > "$T/broken.lua"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on a script with a syntax error" 1 "" "slua: $T/broken.lua:2: unexpected symbol near '<eof>'"
run "$SLUA" -n -f "$T/missing.conf"
check "-n on a missing config file" 1 "" "slua: $T/missing.conf: No such file or directory"
run "$SLUA" -n "$EX/hello-handler.lua" "$EX/hello-worker.lua"
check "-n in stdio mode" 0 "configuration OK" ""

# ssl_cert and ssl_key, the other spelling of tls_cert and tls_key: -n
# reads the files (a real TLS server is below, with tls_cert and tls_key).
timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
printf 'port = 9\nhandler = "print(1)"\nssl_cert = "%s"\n' "$T/cert.pem" > "$T/ssl.conf"
run "$SLUA" -n -f "$T/ssl.conf"
check "ssl_cert is the certificate: it wants a key too" 1 "" "slua: --tls-cert needs --tls-key too"
printf 'ssl_key = "%s"\n' "$T/cert.pem" >> "$T/ssl.conf"
run "$SLUA" -n -f "$T/ssl.conf"
like "$rc $(cat "$T/err")" "^1 slua: tls-key $T/cert.pem: " "ssl_key is the key: a certificate there is refused"

# ---------------------------------------------------------------------------
# The bounds on a config file (slua.conf(5) Bounds): -n on one that loops,
# one that doubles a string, one that compares long strings, one that
# builds a huge table (each would run on without them), a precompiled
# chunk and a file too large: a clear error naming the file, exit 1, in
# well under run's time limit.
nfail() {	# desc stderr: slua -n -f $T/x.conf fails with exactly that
	run -t 10 "$SLUA" -n -f "$T/x.conf"
	check "$1" 1 "" "$2"
}
printf 'port = 9\nhandler = "print(1)"\nwhile true do end\n' > "$T/x.conf"
nfail "-n on a config that loops: the instruction bound, file and line" \
    "slua: $T/x.conf:3: config runs too long (the bound is 100000 instructions)"
printf 'port = 9\nlocal s = "x"\nfor i = 1, 26 do\n  s = s .. s\nend\nhandler = s\n' > "$T/x.conf"
nfail "-n on a config that doubles a string to 64 MiB: the memory bound" \
    "slua: $T/x.conf:4: config holds too much memory (the bound is 16 MiB)"
printf 'local a = "x"\nfor i = 1, 21 do a = a .. a end\nlocal b = a .. "y"\nwhile a < b do end\n' > "$T/x.conf"
nfail "-n on a config that compares two 2 MiB strings: the CPU bound" \
    "slua: $T/x.conf:4: config runs too long (the bound is 200 ms of CPU time)"
printf 'local t = {}\nfor i = 1, 1e7 do t[i] = i end\n' > "$T/x.conf"
nfail "-n on a config that builds a huge table: stopped" \
    "slua: $T/x.conf:2: config runs too long (the bound is 100000 instructions)"
printf 'port = 9\nhandlers = 2\n' > "$T/src.lua"
luac5.1 -s -o "$T/x.conf" "$T/src.lua"
nfail "-n on a precompiled chunk: refused" \
    "slua: $T/x.conf: a precompiled chunk: a config file must be Lua text"
{ echo '#!/usr/bin/slua -f'; cat "$T/x.conf"; } > "$T/y.conf"
mv "$T/y.conf" "$T/x.conf"
nfail "-n on a precompiled chunk after a # line: refused" \
    "slua: $T/x.conf: a precompiled chunk: a config file must be Lua text"
printf '#!/usr/bin/slua -f\nport = 9\nhandler = "print(1)"\n' > "$T/x.conf"
run "$SLUA" -n -f "$T/x.conf"
check "-n on text after a # line: loads" 0 "configuration OK" ""
{ echo 'port = 9'; head -c 1048576 /dev/zero | tr '\0' ' '; } > "$T/x.conf"
nfail "-n on a file over 1 MiB: refused" \
    "slua: $T/x.conf: config file too large (the bound is 1048576 bytes)"
{ echo 'port = 9'; echo 'for i = 1, 1001 do handlers = 2 end'; } > "$T/x.conf"
nfail "-n on more than 1000 assignments: refused" \
    "slua: $T/x.conf:2: more than 1000 assignments to settings"

# Every value checked the way the start would, with file and line.
nbad() {	# desc line2 message: "port = 9" then line2 fails with message
	printf 'port = 9\n%s\nhandler = "print(1)"\n' "$2" > "$T/x.conf"
	nfail "$1" "slua: $T/x.conf:2: $3"
}
nbad "listen = \"999.1.1.1\": refused" 'listen = "999.1.1.1"' \
    "listen 999.1.1.1: not an IPv4 address"
nbad "listen = {}: refused" 'listen = {}' "listen: an empty list"
nbad "a bad address in a listen list" 'listen = { "127.0.0.1", "::1::" }' \
    "listen ::1::: not an IPv6 address"
nbad "a listen list with a key" 'listen = { "127.0.0.1", port = 80 }' \
    "listen: a list has no keys but 1, 2, ..."
nbad "a listen address that is no name" 'listen = "local host"' \
    "listen local host: not an address or a host name"
nbad "a flag that is no boolean" 'daemon = "yes"' \
    "daemon: a string is no value for this setting"
nbad "a string setting given a number" 'user = 0' \
    "user: a number is no value for this setting"
nbad "an unknown user" 'user = "no-such-user-here"' \
    "user no-such-user-here: no such user"
nbad "a missing certificate" "tls_cert = \"$T/nocert.pem\"" \
    "tls-cert $T/nocert.pem: No such file or directory"
nbad "a key that is a directory" "ssl_key = \"$T\"" \
    "ssl-key $T: Is a directory"
nbad "a missing worker script" "worker = \"$T/nowork.lua\"" \
    "worker $T/nowork.lua: No such file or directory"
nbad "max_memory too small for a Lua state" 'max_memory = "64k"' \
    "max-memory 64k: too small (0 for no limit, or at least 1m)"
printf 'port = 9\nlisten = { "127.0.0.1", "::1", "127.0.0.1" }\nhandler = "print(1)"\n' > "$T/x.conf"
nfail "-n: an address listed twice" "slua: listen 127.0.0.1: 127.0.0.1:9 is listed twice"
printf 'port = 9\nlisten = "no-such-host.invalid"\nhandler = "print(1)"\n' > "$T/x.conf"
run -t 30 "$SLUA" -n -f "$T/x.conf"
like "$rc $(cat "$T/err")" "^1 slua: listen no-such-host\.invalid: [^:]+\$" "-n looks up a host name, as the start does"
run "$SLUA" -n -p 9 -l 999.1.1.1 'print(1)'
check "-n on --listen 999.1.1.1 from the command line" 1 "" "slua: listen 999.1.1.1: not an IPv4 address"
printf 'port = 9\nlisten = { "127.0.0.1", "[::1]" }\nhandler = "print(1)"\ndaemon = false\nuser = "nobody"\ntls_cert = "%s"\ntls_key = "%s"\nmax_memory = "1m"\n' "$T/cert.pem" "$T/key.pem" > "$T/x.conf"
run "$SLUA" -n -f "$T/x.conf"
check "-n on good values of each kind" 0 "configuration OK" ""

# ---------------------------------------------------------------------------
# A: handler, worker, port, listen (a string), handlers, max_handlers,
# workers, max_job_size, max_line, job_timeout, timeout, max_jobs, grace
# and verbose, from the file alone.
pA=$(free_port)
cat > "$T/a.lua" <<'LUA'
local l, e = client.line()
if l == nil then print(l, e) return end
local cmd, rest = l:match("^(%S+) ?(.*)$")
if cmd == "job" then
  work.submit(rest)
  print(work.collect())
elseif cmd == "big" then
  local ok, err = pcall(work.submit, ("x"):rep(tonumber(rest)))
  print(ok and "submitted" or err)
elseif cmd == "queue" then
  for i = 1, tonumber(rest) do work.submit("wait") end
  print("queued " .. rest)
else
  print("ok " .. l)
end
LUA
cat > "$T/aw.lua" <<'LUA'
while true do
  local j = work.accept()
  if j == "wait" then while true do os.usleep(20000) end end
  work.answer("w " .. j:sub(1, 10))
end
LUA
cat > "$T/a.conf" <<CONF
port = $pA
listen = "127.0.0.1"
handler = "$T/a.lua"
worker = "$T/aw.lua"
handlers = 1
max_handlers = 3
greeting = true
workers = 3
max_jobs = 10
max_job_size = "1k"
max_line = 16
timeout = 2
job_timeout = 1
grace = 1
verbose = true
CONF
serve srv "$SLUA" -f "$T/a.conf" 2> "$T/log"
wait_port "$pA" || diag "the server did not start: $(tail -3 "$T/log")"
ask() {	# port line: one request, bounded
	echo "$2" | nc -N -w 10 127.0.0.1 "$1"
}
is "$(addrs "$pA")" "127.0.0.1:$pA " "port, listen = \"127.0.0.1\": that address only"
wait_for 5 '[ "$(count "$srv" handler)/$(count "$srv" worker)" = 1/3 ]'
is "$(count "$srv" handler) handler, $(count "$srv" worker) workers" \
    "1 handler, 3 workers" "handlers = 1, workers = 3"
is "$(ask "$pA" "job hi")" "w hi" "handler, worker: the file's scripts serve"
like "$(cat "$T/log")" "slua: broker: worker [0-9]+ started" "verbose = true: debugging messages"
is "$(ask "$pA" "big 1024")" "submitted" "max_job_size = \"1k\": a job of 1024 bytes goes"
is "$(ask "$pA" "big 1025")" "job too large (1025 bytes; max-job-size is 1024)" \
    "a job of 1025 bytes is an error"
start=$(date +%s%N)
is "$(ask "$pA" "job wait")" "nil	job timed out" "job_timeout = 1: a job that runs on fails"
ms=$(ms_since "$start")
ok "after about a second ($ms ms)" '[ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ]'
is "$(ask "$pA" "0123456789abcdef")" "ok 0123456789abcdef" "max_line = 16: a line of 16 bytes is read"
is "$(ask "$pA" "0123456789abcdefg")" "nil	line too long" "a line of 17 is too long"

# Four idle clients: the pool grows to max_handlers, no further; each
# client times out after `timeout` seconds (not its own 8).
for i in 1 2 3 4; do
	nc -d -w 8 127.0.0.1 "$pA" > "$T/idle$i" &
done
handlers_are() { [ "$(count "$srv" handler)" "$1" "$2" ]; }
ok "max_handlers = 3: idle clients grow the pool to 3" 'wait_for 5 "handlers_are -eq 3"'
ok "and no further" '! wait_for 1 "handlers_are -gt 3"'
wait_for 12 '[ "$(cat "$T"/idle[1-4] | grep -c .)" -eq 4 ]'
is "$(cat "$T"/idle[1-4] | sort | uniq -c | sed 's/^ *//')" "4 nil	timeout" \
    "timeout = 2: each idle client times out"

# max_jobs = 10: with the workers held, the broker queues about 10 (a
# handler's batch holds up to 32), not 2000.
is "$(ask "$pA" "queue 2000")" "queued 2000" "2000 jobs submitted while the workers are busy"
kill -USR1 "$srv"
wait_for 5 'grep -q "broker: jobs: " "$T/log"'
queued=$(sed -n 's/.*broker: jobs: \([0-9]*\) queued.*/\1/p' "$T/log" | tail -1)
ok "max_jobs = 10: the broker holds $queued of them" '[ "${queued:-0}" -ge 10 ] && [ "$queued" -le 42 ]'

# grace = 1: the queued jobs cannot finish; TERM ends them after a second.
start=$(date +%s%N)
stop "$srv" "TERM with jobs that never end"
ms=$(ms_since "$start")
ok "grace = 1: stopped within a few seconds, not 10 ($ms ms)" '[ "$ms" -lt 5000 ]'

# ---------------------------------------------------------------------------
# B: listen (a table), max_requests, handler_timeout, max_memory; then a
# reload reads the file again: handlers apply, port does not.  grace = 1
# bounds the cut where no hook runs (code LuaJIT compiled).
pB=$(free_port)
pB2=$(free_port)
cat > "$T/b.lua" <<'LUA'
local l = client.line() or ""
if l == "loop" then while true do end end
if l == "hog" then
  local ok, err = pcall(function()
    local t = {}
    for i = 1, 1e9 do t[i] = ("x"):rep(64) .. i end
  end)
  collectgarbage()
  print(err)
  return
end
local f = io.open("/proc/self/stat")
local pid = f:read("*n")
f:close()
print(l, pid)
LUA
bconf() {	# handlers port max_requests
	cat > "$T/b.conf" <<CONF
port = $2
listen = { "127.0.0.1", "::1" }
handler = "$T/b.lua"
handlers = $1
max_requests = $3
handler_timeout = 1
max_memory = "4m"
grace = 1
CONF
}
bconf 1 "$pB" 2
serve srv "$SLUA" -f "$T/b.conf" 2> "$T/log"
wait_port "$pB" || diag "the server did not start: $(tail -3 "$T/log")"
is "$(addrs "$pB")" "127.0.0.1:$pB [::1]:$pB " "listen = { \"127.0.0.1\", \"::1\" }: both"
is "$(echo six | nc -6 -N -w 10 ::1 "$pB" | cut -f1)" "six" "served on ::1"
p1=$(ask "$pB" a | cut -f2)
p2=$(ask "$pB" b | cut -f2)
p3=$(ask "$pB" c | cut -f2)
ok "max_requests = 2: one handler serves two connections, then another ($p1 $p2 $p3)" \
    '[ -n "$p1" ] && [ "$p1" = "$p2" ] && [ -n "$p3" ] && [ "$p3" != "$p1" ]'
start=$(date +%s%N)
is "$(ask "$pB" loop)" "" "handler_timeout = 1: a looping connection is cut"
ms=$(ms_since "$start")
ok "after about a second ($ms ms)" '[ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ]'
wait_for 5 'grep -q "handler timed out" "$T/log"'
like "$(cat "$T/log")" "slua: handler: 127\.0\.0\.1:[0-9]+: handler timed out" "and logged with the client's address"
if [ $luajit = 0 ]; then
	is "$(ask "$pB" hog)" "not enough memory" "max_memory = \"4m\": a hog gets Lua's \"not enough memory\""
else
	skip "max_memory" "not with LuaJIT"
fi
is "$(ask "$pB" next | cut -f1)" "next" "the next client is served"

# HUP: the file is read again; handlers and max_requests apply, the port
# takes a restart.
old=$(procs "$srv" handler)
bconf 2 "$pB2" 0
kill -HUP "$srv"
reloaded() { [ "$(count "$srv" handler)" -eq 2 ] && all_gone $old; }
ok "HUP reads the file again: handlers = 2" 'wait_for 10 reloaded'
hset() { procs "$srv" handler | sort | tr "\n" " "; }
before=$(hset)
for i in 1 2 3; do ask "$pB" "x$i"; done > /dev/null
changed() { [ "$(hset)" != "$before" ]; }
ok "max_requests = 0 now: after three connections, the same handlers" '! wait_for 1 changed'
is "$(addrs "$pB2")|$(ask "$pB" still | cut -f1)" "|still" "a new port in the file takes a restart: still on the old"
stop "$srv"

# ---------------------------------------------------------------------------
# C: a reload whose config goes over a bound is refused, with a log line
# naming the file, and the running generation serves on: a dead handler
# is replaced, and TERM stops it all.
pC=$(free_port)
cat > "$T/c.good" <<CONF
port = $pC
listen = "127.0.0.1"
handler = "$T/b.lua"
handlers = 1
CONF
cp "$T/c.good" "$T/c.conf"
serve srv "$SLUA" -f "$T/c.conf" 2> "$T/log"
wait_port "$pC" || diag "the server did not start: $(tail -3 "$T/log")"
h1=$(ask "$pC" one | cut -f2)
logged() { grep -qF -- "$want" "$T/log"; }
printf 'while true do end\n' >> "$T/c.conf"
kill -HUP "$srv"
want="slua: supervisor: $T/c.conf:5: config runs too long (the bound is 100000 instructions)"
ok "HUP on a config that loops: refused, with file and line" 'wait_for 10 logged'
want="slua: supervisor: reload failed: still running generation 1"
ok "the running generation goes on" 'wait_for 5 logged'
is "$(ask "$pC" two | cut -f2)" "$h1" "and serves, with the same handler"
kill -KILL "$h1"
h2=$(ask "$pC" three | cut -f2)
ok "a dead handler is replaced ($h1, then $h2)" '[ -n "$h2" ] && [ "$h2" != "$h1" ]'
cp "$T/c.good" "$T/c.conf"
printf 'local s = "x"\nfor i = 1, 26 do s = s .. s end\n' >> "$T/c.conf"
kill -HUP "$srv"
want="slua: supervisor: $T/c.conf:6: config holds too much memory (the bound is 16 MiB)"
ok "HUP on a config that holds too much memory: refused" 'wait_for 10 logged'
luac5.1 -s -o "$T/c.conf" "$T/src.lua"
kill -HUP "$srv"
want="slua: supervisor: $T/c.conf: a precompiled chunk: a config file must be Lua text"
ok "HUP on a precompiled config: refused" 'wait_for 10 logged'
is "$(ask "$pC" four | cut -f1,2)" "four	$h2" "still the same generation"
stop "$srv" "TERM stops the server after the refused reloads"

# ---------------------------------------------------------------------------
# D: daemon, pidfile, user, tls_cert and tls_key from the file; -p, -H and
# --max-line on the command line win over the file's port, handlers and
# max_line.
pD=$(free_port)
pX=$(free_port)
cat > "$T/d.lua" <<'LUA'
local l, e = client.line()
local f = io.open("/proc/self/status")
local s = f:read("*a")
f:close()
print(client.tls, l and #l or e, s:match("\nUid:%s*(%d+)"))
LUA
cat > "$T/d.conf" <<CONF
port = $pX
listen = "127.0.0.1"
handler = "$T/d.lua"
daemon = true
user = "nobody"
pidfile = "$T/d.pid"
tls_cert = "$T/cert.pem"
tls_key = "$T/key.pem"
handlers = 1
max_line = 16
CONF
if [ "$(id -u)" = 0 ]; then
	chmod 755 "$T"		# the handlers run as nobody
	# Detached by design: not for run, which counts what it leaves.
	timeout -k 2 20 "$SLUA" -f "$T/d.conf" -p "$pD" -H 2 --max-line 64 \
	    > "$T/out" 2> "$T/err" 3>&-
	rc=$?
	check "daemon = true: slua returns, exit 0, nothing on the terminal" 0 "" ""
	wait_port "$pD" || diag "the daemon did not start"
	dpid=$(cat "$T/d.pid" 2>/dev/null)
	adopt "$dpid"
	ok "pidfile = ...: names the supervisor, detached in a session of its own" \
	    '[ -n "$dpid" ] && [ "$(tr "\0" "\n" < /proc/$dpid/cmdline | head -1)" = "slua: supervisor" ] && [ "$(ps -o sid= -p "$dpid")" != "$(ps -o sid= -p $$)" ]'
	path=/0123456789012345678901234567890123456789
	line="GET $path HTTP/1.1"
	got=$(curl -sk --http0.9 -m 10 "https://127.0.0.1:$pD$path")
	is "$(echo "$got" | cut -f1)" "true" "tls_cert, tls_key: the connection is TLS"
	is "$(echo "$got" | cut -f3)" "$(id -u nobody)" "user = \"nobody\": the handler runs as nobody"
	is "$(echo "$got" | cut -f2)" "${#line}" "--max-line 64 wins over max_line = 16"
	wait_for 5 '[ "$(count "$dpid" handler)" -eq 2 ]'
	is "$(count "$dpid" handler)" 2 "-H 2 wins over handlers = 1"
	is "$(addrs "$pD")|$(addrs "$pX")" "127.0.0.1:$pD |" "-p wins over port"
	kids=$(descendants "$dpid")
	kill -TERM "$dpid"
	ok "TERM stops the daemon and its children" "wait_for 15 'all_gone $dpid $(echo $kids)'"
	ok "and removes its pidfile" '[ ! -e "$T/d.pid" ]'
	chmod 700 "$T"
else
	for i in 1 2 3 4 5 6 7 8 9; do skip "daemon, user, pidfile, TLS" "not root"; done
fi

# ---------------------------------------------------------------------------
# The default file, /etc/slua.conf: read by -p, -d and -n, never for a plain
# script.  Shown in a mount namespace of its own, where /etc has an
# overlay holding a slua.conf with an error on line 2.
cat > "$T/inetc.sh" <<'SH'
d=$1; shift
mount -t tmpfs none "$d/ov" && mkdir "$d/ov/up" "$d/ov/work" &&
    cp "$d/etc-slua.conf" "$d/ov/up/slua.conf" &&
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$d/ov/up,workdir=$d/ov/work" /etc ||
    exit 99
exec "$@"
SH
mkdir "$T/ov"
printf 'handlers = 1\nnot_a_setting = 1\n' > "$T/etc-slua.conf"
inetc=(unshare -m --propagation private sh "$T/inetc.sh" "$T")
if [ "$(id -u)" = 0 ] && timeout 10 "${inetc[@]}" true 2>/dev/null; then
	err="slua: /etc/slua.conf:2: unknown setting 'not_a_setting'"
	run "${inetc[@]}" "$SLUA" -n "$EX/http-handler.lua"
	check "/etc/slua.conf: -n reads it" 1 "" "$err"
	run "${inetc[@]}" "$SLUA" -p "$(free_port)" -l 127.0.0.1 "$EX/http-handler.lua"
	check "-p reads it" 1 "" "$err"
	run "${inetc[@]}" "$SLUA" -d -p "$(free_port)" -l 127.0.0.1 --pidfile "$T/x.pid" "$EX/http-handler.lua"
	check "-d reads it" 1 "" "$err"
	run "${inetc[@]}" "$SLUA" 'print("plain")'
	check "a plain script does not" 0 "plain" ""
	run "${inetc[@]}" "$SLUA" -n -f "$T/good.conf"
	check "nor does slua -f another file" 0 "configuration OK" ""
else
	for i in 1 2 3 4 5; do skip "/etc/slua.conf" "needs root and overlayfs in a mount namespace"; done
fi

done_testing
