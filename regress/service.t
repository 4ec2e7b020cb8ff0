# Running as a service: -d, pidfile, -u, config file, signals, rc scripts,
# inetd, socket activation, make install.
. "$(dirname "$0")/lib.sh"

EX="$REGRESS/../conf/examples"
TOP="$REGRESS/.."
port=$(free_port)
url="http://127.0.0.1:$port"

pidof_file() { cat "$1" 2>/dev/null; }
gone() {	# pid: wait up to 5 s for it to exit
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 100 ]; do
		sleep 0.05; _i=$((_i + 1)); done
	! kill -0 "$1" 2>/dev/null
}

# -d: detaches only once bound, writes the pidfile, names its processes.
run "$SLUA" -d -p "$port" -l 127.0.0.1 -H 2 -W 1 --pidfile "$T/pid" \
    "$EX/http-handler.lua" 'while true do work.answer("w " .. work.accept()) end'
check "-d returns at once, exit 0" 0 ""
wait_port "$port"
sup=$(pidof_file "$T/pid")
_pids="$_pids $sup"
ok "the pidfile names a live process" kill -0 "$sup"
is "$(tr '\0' '\n' < /proc/$sup/cmdline | head -1)" "slua: supervisor" "supervisor title"
# A child names itself just after fork: give slow builds a moment.
for i in $(seq 1 40); do
	titles=$(for p in $(pgrep -P "$sup"); do tr '\0' '\n' < /proc/$p/cmdline | head -1; done | sort | uniq -c | awk '{print $2, $3, $1}' | tr '\n' ,)
	[ "$titles" = "slua: broker 1,slua: handler 2," ] && break
	sleep 0.05
done
is "$titles" "slua: broker 1,slua: handler 2," "broker and handler titles"
broker=$(pgrep -P "$sup" -f 'slua: broker')
is "$(tr '\0' '\n' < /proc/$(pgrep -P "$broker" | head -1)/cmdline | head -1)" "slua: worker" "worker title"
is "$(curl -s "$url/d")" "w /d" "the daemon serves"
is "$(readlink /proc/$sup/cwd)" "/" "the daemon works from /"

run "$SLUA" -d -p "$port" -l 127.0.0.1 --pidfile "$T/pid" "$EX/http-handler.lua"
check "a second instance with the same pidfile is refused" 1 "" \
    "slua: already running as pid $sup ($T/pid)"

# TERM with a connection in flight: it finishes, then the pidfile goes.
cat > "$T/slow.lua" <<'LUA'
client.line()
os.usleep(700000)
print("finished")
LUA
kill -TERM "$sup"
ok "TERM stops the daemon" gone "$sup"
ok "TERM removes the pidfile" [ ! -e "$T/pid" ]

"$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/pid" "$T/slow.lua"
wait_port "$port"
sup=$(pidof_file "$T/pid")
_pids="$_pids $sup"
(echo hi | nc -q 2 127.0.0.1 "$port" > "$T/inflight") &
client=$!
sleep 0.3
kill -TERM "$sup"
wait $client
is "$(cat "$T/inflight")" "finished" "a connection in flight at TERM finishes"
ok "then the daemon exits" gone "$sup"
ok "and its pidfile is gone" [ ! -e "$T/pid" ]

# Foreground: a line on stderr at start; -u nobody: no child runs as root.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 -H 2 -W 1 -u nobody \
	    "$EX/http-handler.lua" 'while true do work.answer(work.accept()) end' 2> "$T/log"
	wait_port "$port"
	sleep 0.2
	users=""
	for p in $(pgrep -P "$srv"); do
		users="$users $(ps -o user= -p "$p")"
		for q in $(pgrep -P "$p"); do users="$users $(ps -o user= -p "$q")"; done
	done
	is "$(echo $users | tr ' ' '\n' | sort -u | tr '\n' ' ')" "nobody " "-u nobody: handlers, broker and workers run as nobody"
	is "$(ps -o user= -p "$srv")" "root" "the supervisor keeps root"
	is "$(curl -s "$url/u")" "/u" "and it serves"
	like "$(cat "$T/log")" "slua: supervisor: started on port $port, pid $srv" "a line on stderr at start"
	stop "$srv"
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 -H 1 "$EX/http-handler.lua" 2> "$T/log"
	wait_port "$port"
	like "$(cat "$T/log")" "running as root: consider -u" "root without -u warns"
	stop "$srv"
else
	skip "-u nobody" "not root"
	skip "-u nobody" "not root"
	skip "-u nobody" "not root"
	skip "-u nobody" "not root"
	skip "root without -u" "not root"
fi
run "$SLUA" -p "$port" -u no-such-user-here 'print(1)'
check "an unknown user" 1 "" "slua: user no-such-user-here: no such user"

# The config file: settings, errors with file and line, -n.
cat > "$T/slua.conf" <<CONF
-- a test configuration
port = $port
listen = { "127.0.0.1" }
handler = "$EX/http-handler.lua"
worker = "$T/v.lua"
handlers = 2
workers = 1
max_job_size = "1m"
CONF
echo 'while true do work.answer("v1 " .. work.accept()) end' > "$T/v.lua"
run "$SLUA" -n -f "$T/slua.conf"
check "-n on a good config" 0 "configuration OK" ""
printf 'port = 80\nhandlers = 2\nbogus = 1\n' > "$T/bad.conf"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on an unknown setting: file and line" 1 "" "slua: $T/bad.conf:3: unknown setting 'bogus'"
printf 'port = 80\nhandlers = "many"\n' > "$T/bad.conf"
run "$SLUA" -n -f "$T/bad.conf"
check "-n on a bad value: file and line" 1 "" "slua: $T/bad.conf:2: handlers many: invalid"
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

serve srv "$SLUA" -f "$T/slua.conf" -H 1 2> "$T/log"
wait_port "$port"
is "$(curl -s "$url/c")" "v1 /c" "the config file's settings apply"
is "$(pgrep -P "$srv" -f 'slua: handler' | wc -l)" 1 "the command line wins over the file"

# HUP under load: no failed request, no lost job, the new script runs.
: > "$T/urls"
for i in $(seq 1 1500); do echo "url = \"$url/$i\"" >> "$T/urls"; done
curl -s --parallel --parallel-max 8 -K "$T/urls" -w '%{http_code}\n' > "$T/codes" 2>/dev/null &
load=$!
sleep 0.2
echo 'while true do work.answer("v2 " .. work.accept()) end' > "$T/v.lua"
kill -HUP "$srv"
sleep 0.3
kill -HUP "$srv"
wait $load
is "$(grep -c '^200$' "$T/codes")" 1500 "HUP twice under load: every request answered"
is "$(grep -c '^v[12] /' "$T/codes")" 1500 "and every request's job answered"
sleep 0.5
is "$(curl -s "$url/new")" "v2 /new" "the reloaded worker script runs"
n=$(pgrep -P "$srv" -f 'slua: handler' | wc -l)
is "$n" 1 "the old handlers are gone"
is "$(pgrep -P "$srv" -f 'slua: broker' | wc -l)" 1 "one broker after the reload"

kill -USR1 "$srv"
sleep 0.3
like "$(cat "$T/log")" "slua: supervisor: status: generation 3, 1 handlers, [0-9]+ restarts" "USR1: the supervisor's status line"
like "$(cat "$T/log")" "slua: broker: jobs: 0 queued, 0 at workers, [0-9]+ done; workers: 1, 1 idle" "USR1: the broker's jobs and workers"
like "$(cat "$T/log")" "slua: handler: status: [0-9]+ connections served" "USR1: each handler's connections"

echo 'while true do' > "$T/v.lua"
kill -HUP "$srv"
sleep 0.3
is "$(curl -s "$url/still")" "v2 /still" "HUP with a broken script keeps serving"
like "$(cat "$T/log")" "reload failed: still running generation" "and logs why"
like "$(cat "$T/log")" "v.lua:2: 'end' expected" "naming the error"
stop "$srv"

# A reloaded config that no longer names a port: the reload fails, the
# running generation goes on.
printf 'port = %s\nhandler = "%s"\n' "$port" "$EX/http-handler.lua" > "$T/p.conf"
serve srv "$SLUA" -f "$T/p.conf" --listen 127.0.0.1 -H 1 2> "$T/log"
wait_port "$port"
printf 'handler = "%s"\n' "$EX/http-handler.lua" > "$T/p.conf"
kill -HUP "$srv"
sleep 0.3
is "$(curl -s "$url/kept")" "hello /kept" "HUP with a config without a port keeps serving"
like "$(cat "$T/log")" "supervisor: --listen needs --port" "and says why"
stop "$srv"

# The LSB init script, on a temporary pidfile.
init="$TOP/rc.d/slua.init"
export DAEMON="$SLUA" CONFIG="$T/slua.conf" PIDFILE="$T/init.pid"
echo 'while true do work.answer("v1 " .. work.accept()) end' > "$T/v.lua"
run sh "$init" start
check "init script: start" 0
wait_port "$port"
run sh "$init" status
check "init script: status" 0 "slua is running (pid $(cat "$T/init.pid"))"
_pids="$_pids $(cat "$T/init.pid")"
echo 'while true do work.answer("v3 " .. work.accept()) end' > "$T/v.lua"
run sh "$init" reload
check "init script: reload" 0
sleep 0.5
is "$(curl -s "$url/r")" "v3 /r" "init script: reload took effect"
run sh "$init" stop
check "init script: stop" 0
run sh "$init" status
check "init script: status when stopped" 3 "slua is not running"
unset DAEMON CONFIG PIDFILE

# A real inetd, nowait: slua in stdio mode on each connection.
if command -v inetd >/dev/null; then
	printf '127.0.0.1:%s stream tcp nowait %s %s slua %s %s\n' "$port" \
	    "$(id -un)" "$SLUA" "$T/peer.lua" "$T/v.lua" > "$T/inetd.conf"
	cat > "$T/peer.lua" <<'LUA'
local l = client.line()
work.submit(l)
print(client.ip, work.collect())
LUA
	serve inetd inetd -d "$T/inetd.conf" 2>/dev/null
	wait_port "$port"
	good=0
	for i in $(seq 1 20); do
		got=$(echo "n$i" | nc -q 2 127.0.0.1 "$port")
		[ "$got" = "127.0.0.1	v3 n$i" ] && good=$((good + 1))
	done
	is "$good" 20 "inetd: 20 connections served by slua in stdio mode"
	stop "$inetd"
else
	skip "inetd" "openbsd-inetd not installed"
fi

# Socket activation.
if command -v systemd-socket-activate >/dev/null; then
	serve act systemd-socket-activate -l "127.0.0.1:$port" \
	    "$SLUA" -p "$port" -H 1 "$EX/http-handler.lua"
	sleep 0.3
	is "$(curl -s "$url/act")" "hello /act" "socket activation: slua serves the passed socket"
	stop "$act"
else
	skip "socket activation" "systemd-socket-activate not installed"
fi

# make install
rm -rf "$T/root"
make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr/local > /dev/null 2>&1
(cd "$T/root" && find . -type f | sort) > "$T/files"
is "$(cat "$T/files")" "./etc/init.d/slua
./etc/slua.conf
./usr/local/bin/slua
./usr/local/lib/systemd/system/slua.service
./usr/local/share/man/man1/slua.1
./usr/local/share/man/man3/slua-lua.3
./usr/local/share/man/man5/slua.conf.5
./usr/local/share/slua/examples/hello-handler.lua
./usr/local/share/slua/examples/hello-worker.lua
./usr/local/share/slua/examples/http-handler.lua
./usr/local/share/slua/examples/inetd.conf
./usr/local/share/slua/rc.d/slua" "make install DESTDIR=: the files"
echo "-- mine" > "$T/root/etc/slua.conf"
make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr/local > /dev/null 2>&1
is "$(cat "$T/root/etc/slua.conf")" "-- mine" "make install keeps an existing slua.conf"
make -s -C "$TOP" uninstall DESTDIR="$T/root" PREFIX=/usr/local > /dev/null 2>&1
is "$(cd "$T/root" && find . -type f | sort)" "./etc/slua.conf" "make uninstall leaves only the config"

done_testing
