# Running as a service: -d, pidfile, syslog, -u and its groups, signals, the
# LSB init script, inetd with the shipped line, socket activation, make
# install.  The config file's settings are config.t's.
. "$(dirname "$0")/lib.sh"
plan 67

EX="$REGRESS/../conf/examples"
TOP="$REGRESS/.."
port=$(free_port)
url="http://127.0.0.1:$port"
root=0
[ "$(id -u)" = 0 ] && root=1
warn=""
[ $root = 1 ] && warn="slua: running as root: consider -u"

# slua -d (and the init script's start, which runs it) detaches by design:
# detach (regress/lib.sh) runs it, not run, which counts what a command
# leaves running as a failure.
descendants() {
	for _c in $(pgrep -P "$1"); do echo "$_c"; descendants "$_c"; done
}
all_gone() {	# pids...: none of them is running
	for _p in "$@"; do alive "$_p" && return 1; done
	return 0
}
count() {	# pid role
	procs "$1" "$2" | wc -l
}
roles() {	# pid: how many brokers, handlers and workers it has
	echo "$(count "$1" broker) broker, $(count "$1" handler) handlers, $(count "$1" worker) worker"
}
title() {
	tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | head -1
}
ask() {		# line: one request to $port, bounded
	echo "$1" | nc -N -w 10 127.0.0.1 "$port"
}
get() {		# path: one HTTP request to $port, bounded
	curl -s -m 10 "$url$1"
}

# ---------------------------------------------------------------------------
# A syslog of our own (regress/lib.sh).
own_syslog

# ---------------------------------------------------------------------------
# -d: detaches only once bound, writes the pidfile, names its processes,
# logs to syslog (facility daemon, ident slua, each line naming the role).
cat > "$T/h.lua" <<LUA
local l = client.line()
if not l then return end	-- wait_port's probe
eprint("request " .. l)
if l == "slow" then
  io.open("$T/began", "w"):close()
  os.usleep(1000000)
  print("finished")
  return
end
work.submit(l)
print(work.collect())
LUA
cat > "$T/w.lua" <<'LUA'
while true do
  local j = work.accept()
  eprint("job " .. j)
  work.answer("w " .. j)
end
LUA
detach "${inns[@]}" "$SLUA" -d -p "$port" -l 127.0.0.1 -H 2 -W 1 --pidfile "$T/pid" \
    "$T/h.lua" "$T/w.lua"
check "-d: exit 0, and on the terminal only what comes before detaching" 0 "" "$warn"
wait_port "$port" || diag "the daemon did not start"
sup=$(cat "$T/pid" 2>/dev/null)
adopt "$sup"
ok "the pidfile names a live process" 'alive "$sup"'
ok "in a session of its own, not our child" \
    '[ "$(ps -o sid= -p "$sup")" != "$(ps -o sid= -p $$)" ] && [ "$(ps -o ppid= -p "$sup" | tr -d " ")" != $$ ]'
is "$(title "$sup")" "slua: supervisor" "supervisor title"
wait_for 5 '[ "$(roles "$sup")" = "1 broker, 2 handlers, 1 worker" ]'
is "$(roles "$sup")" "1 broker, 2 handlers, 1 worker" "broker, handler and worker titles"
is "$(ask hi)" "w hi" "the daemon serves"
is "$(readlink "/proc/$sup/cwd")" "/" "the daemon works from /"

run "$SLUA" -d -p "$port" -l 127.0.0.1 --pidfile "$T/pid" "$EX/http-handler.lua"
check "a second instance with the same pidfile is refused" 1 "" \
    "slua: already running as pid $sup ($T/pid)"

if [ $syslog = 1 ]; then
	wait_for 5 'grep -q "supervisor: started" "$T/syslog" && grep -q "handler: request hi" "$T/syslog" && grep -q "worker: job hi" "$T/syslog"'
	is "$(logged "$sup")" "<30>slua[$sup]: supervisor: started on port $port, pid $sup" \
	    "syslog: the start, daemon.info, ident slua with the pid, the role"
	hp=$(sed -n 's/^.* slua\[\([0-9]*\)\]: handler: request hi$/\1/p' "$T/syslog")
	is "$(logged "$hp")|$(procs "$sup" handler | grep -cx "${hp:-x}")" \
	    "<29>slua[$hp]: handler: request hi|1" "syslog: a handler's eprint, daemon.notice"
	wp=$(sed -n 's/^.* slua\[\([0-9]*\)\]: worker: job hi$/\1/p' "$T/syslog")
	is "$(logged "$wp")|$(procs "$sup" worker | grep -cx "${wp:-x}")" \
	    "<29>slua[$wp]: worker: job hi|1" "syslog: a worker's eprint"
else
	for i in 1 2 3; do skip "syslog" "needs root for a mount namespace"; done
fi

# TERM with a connection in flight: it finishes, then the daemon, its
# children and its pidfile go.
kids=$(descendants "$sup")
(ask slow > "$T/inflight") &
client=$!
wait_for 5 '[ -e "$T/began" ]' || diag "the slow request did not begin"
kill -TERM "$sup"
wait_for 15 '! alive $client'
is "$(cat "$T/inflight")" "finished" "a connection in flight at TERM finishes"
ok "then the daemon and its children exit" "wait_for 15 'all_gone $sup $(echo $kids)'"
ok "and its pidfile is gone" '[ ! -e "$T/pid" ]'
if [ $syslog = 1 ]; then
	wait_for 5 'logged "$sup" | grep -q stopping'
	is "$(logged "$sup" | tail -1)" "<30>slua[$sup]: supervisor: stopping" "syslog: the stop"
else
	skip "syslog" "needs root for a mount namespace"
fi

# The broker's own lines reach syslog with several workers (syslog(3)'s
# socket, inherited from the supervisor, had by then the number of a
# worker's channel in the broker, and the lines went to the worker).
if [ $syslog = 1 ]; then
	detach "${inns[@]}" "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 -W 4 \
	    --pidfile "$T/pid" "$T/h.lua" 'while true do work.answer(work.accept()) end'
	wait_port "$port" || diag "the daemon did not start"
	sup=$(cat "$T/pid" 2>/dev/null)
	adopt "$sup"
	wait_for 5 '[ "$(count "${sup:-x}" worker)" = 4 ]'
	br=$(procs "${sup:-x}" broker)
	w=$(procs "${sup:-x}" worker | head -1)
	kids=$(descendants "${sup:-x}")
	kill -KILL "${w:-x}"
	wait_for 5 'logged "${br:-x}" | grep -q died'
	is "$(logged "${br:-x}")" "<28>slua[$br]: broker: worker $w died: killed by signal 9" \
	    "syslog: the broker's own lines, with four workers"
	kill -TERM "${sup:-x}"
	wait_for 15 "all_gone ${sup:-x} $(echo $kids)"
else
	skip "syslog" "needs root for a mount namespace"
fi

# ---------------------------------------------------------------------------
# -u: handlers, broker and workers run as the user, with exactly its groups;
# the supervisor keeps root.  A throwaway user in two groups of its own.
u="sluat$$"
cleanup_user() {
	# -f: a zombie of the user's, not yet reaped, is no reason to stay.
	userdel -f "$u" 2>/dev/null
	groupdel "${u}a" 2>/dev/null
	groupdel "${u}b" 2>/dev/null
}
trap '_cleanup; cleanup_user' EXIT
if [ $root = 1 ] && groupadd "${u}a" && groupadd "${u}b" &&
    useradd -M -N -g "${u}a" -G "${u}b" -d /nonexistent -s /usr/sbin/nologin "$u"; then
	start_slua -H 2 -W 1 -u "$u" "$EX/http-handler.lua" 'while true do work.answer(work.accept()) end'
	wait_for 5 '[ "$(roles "$srv")" = "1 broker, 2 handlers, 1 worker" ]'
	ids() {	# pid: its uids, gids and groups
		_f=/proc/$1/status
		printf 'Uid: %s; Gid: %s; Groups: %s\n' \
		    "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$_f")" \
		    "$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$_f")" \
		    "$(awk '$1 == "Groups:" { for (i = 2; i <= NF; i++) print $i }' "$_f" | sort -n | tr '\n' ' ' | sed 's/ $//')"
	}
	uid=$(id -u "$u") gid=$(id -g "$u")
	want="Uid: $uid $uid $uid $uid; Gid: $gid $gid $gid $gid; Groups: $(id -G "$u" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
	got=$(for p in $(descendants "$srv"); do ids "$p"; done | sort | uniq -c | sed 's/^ *//')
	is "$got" "4 $want" "-u: handlers, broker and worker run as the user, with its groups only"
	is "$(ids "$srv" | sed 's/;.*//')" "Uid: 0 0 0 0" "the supervisor keeps root"
	is "$(get /u)" "/u" "and it serves"
	like "$(cat "$T/log")" "slua: supervisor: started on port $port, pid $srv" "a line on stderr at start"
	ok "no warning about root with -u" '! grep -q "running as root" "$T/log"'
	stop "$srv"
	# Children die with the supervisor, dropped to the user or not.
	start_slua -H 1 -W 1 -u "$u" "$EX/http-handler.lua" 'while true do work.answer(work.accept()) end'
	wait_for 5 '[ "$(roles "$srv")" = "1 broker, 1 handlers, 1 worker" ]'
	kids=$(descendants "$srv")
	kill -KILL "$srv"
	ok "-u: when the supervisor is killed, its children ($(echo $kids)) die too" \
	    "[ -n '$(echo $kids)' ] && wait_for 5 'all_gone $(echo $kids)'"
	halt "$srv"
else
	for i in 1 2 3 4 5 6 7; do skip "-u" "not root, or no useradd"; done
fi
cleanup_user
run "$SLUA" -p "$port" -u no-such-user-here 'print(1)'
check "an unknown user" 1 "" "slua: user no-such-user-here: no such user"

# ---------------------------------------------------------------------------
# Signals on a server started from a config file.
cat > "$T/slua.conf" <<CONF
port = $port
listen = { "127.0.0.1" }
handler = "$EX/http-handler.lua"
worker = "$T/v.lua"
handlers = 1
workers = 1
CONF
echo 'while true do work.answer("v1 " .. work.accept()) end' > "$T/v.lua"
serve srv "$SLUA" -f "$T/slua.conf" 2> "$T/log"
wait_port "$port" || diag "the server did not start: $(tail -3 "$T/log")"
is "$(get /c)" "v1 /c" "a server from a config file"

# HUP twice under load: no failed request, no lost job, each script runs.
for i in $(seq 1 3000); do echo "url = \"$url/$i\""; done > "$T/urls"
stdbuf -oL curl -s -m 60 --parallel --parallel-max 8 -K "$T/urls" -w '%{http_code}\n' \
    > "$T/codes" 2>/dev/null &
load=$!
wait_for 10 '[ "$(grep -c "^v1 /" "$T/codes")" -ge 100 ]'
echo 'while true do work.answer("v2 " .. work.accept()) end' > "$T/v.lua"
kill -HUP "$srv"
wait_for 10 'grep -q "^v2 /" "$T/codes"'
echo 'while true do work.answer("v3 " .. work.accept()) end' > "$T/v.lua"
kill -HUP "$srv"
during=$(alive "$load" && echo yes)
wait_for 60 '! alive "$load"' || kill "$load"
wait "$load"
is "$during" "yes" "the second HUP came while the requests ran"
is "$(grep -c '^200$' "$T/codes")" 3000 "HUP twice under load: every request answered"
is "$(grep -c '^v[123] /' "$T/codes")" 3000 "and every request's job answered"
ok "by the first worker script, then the second" 'grep -q "^v1 /" "$T/codes" && grep -q "^v2 /" "$T/codes"'
wait_for 10 '[ "$(get /new)" = "v3 /new" ]'
is "$(get /new)" "v3 /new" "the script of the second reload runs"
wait_for 10 '[ "$(roles "$srv")" = "1 broker, 1 handlers, 1 worker" ]'
is "$(roles "$srv")" "1 broker, 1 handlers, 1 worker" "the old generations are gone"

kill -USR1 "$srv"
wait_for 5 'grep -q "supervisor: status:" "$T/log" && grep -q "broker: jobs:" "$T/log" && grep -q "handler: status:" "$T/log"'
like "$(cat "$T/log")" "slua: supervisor: status: generation 3, 1 handlers, [0-9]+ restarts" "USR1: the supervisor's status line"
like "$(cat "$T/log")" "slua: broker: jobs: 0 queued, 0 at workers, [0-9]+ done; workers: 1, 1 idle" "USR1: the broker's jobs and workers"
like "$(cat "$T/log")" "slua: handler: status: [0-9]+ connections served" "USR1: each handler's connections"

echo 'while true do' > "$T/v.lua"
kill -HUP "$srv"
wait_for 10 'grep -q "reload failed" "$T/log"'
is "$(get /still)" "v3 /still" "HUP with a broken script keeps serving"
like "$(cat "$T/log")" "reload failed: still running generation" "and logs why"
like "$(cat "$T/log")" "v.lua:2: 'end' expected" "naming the error"
stop "$srv"

# A reloaded config that no longer names a port: the reload fails, the
# running generation goes on.
printf 'port = %s\nhandler = "%s"\n' "$port" "$EX/http-handler.lua" > "$T/p.conf"
serve srv "$SLUA" -f "$T/p.conf" --listen 127.0.0.1 -H 1 2> "$T/log"
wait_port "$port" || diag "the server did not start: $(tail -3 "$T/log")"
printf 'handler = "%s"\n' "$EX/http-handler.lua" > "$T/p.conf"
kill -HUP "$srv"
wait_for 10 'grep -q "needs --port" "$T/log"'
is "$(get /kept)" "hello /kept" "HUP with a config without a port keeps serving"
like "$(cat "$T/log")" "supervisor: --listen needs --port" "and says why"
stop "$srv"

# ---------------------------------------------------------------------------
# The LSB init script, on a temporary pidfile.
init="$TOP/rc.d/slua.init"
export DAEMON="$SLUA" CONFIG="$T/slua.conf" PIDFILE="$T/init.pid"
echo 'while true do work.answer("v1 " .. work.accept()) end' > "$T/v.lua"
detach sh "$init" start
check "init script: start" 0
wait_port "$port" || diag "the init script's daemon did not start"
ipid=$(cat "$T/init.pid" 2>/dev/null)
adopt "$ipid"
run sh "$init" status
check "init script: status" 0 "slua is running (pid $ipid)"
echo 'while true do work.answer("v2 " .. work.accept()) end' > "$T/v.lua"
run sh "$init" reload
check "init script: reload" 0
wait_for 10 '[ "$(get /r)" = "v2 /r" ]'
is "$(get /r)" "v2 /r" "init script: reload took effect"
echo 'while true do work.answer("v3 " .. work.accept()) end' > "$T/v.lua"
kids=$(descendants "$ipid")
detach sh "$init" restart
check "init script: restart" 0
wait_port "$port" || diag "the restarted daemon does not listen"
new=$(cat "$T/init.pid" 2>/dev/null)
adopt "$new"
ok "restart: a new pid ($ipid, then $new), the old one and its children gone" \
    "[ -n '$ipid' ] && [ -n '$new' ] && [ '$new' != '$ipid' ] && wait_for 15 'all_gone $ipid $(echo $kids)'"
is "$(get /rr)" "v3 /rr" "restart: the new daemon serves, with the script as it is now"
run sh "$init" status
check "init script: status after restart" 0 "slua is running (pid $new)"
kids=$(descendants "$new")
run sh "$init" stop
check "init script: stop" 0
ok "stop: the daemon and its children are gone" "wait_for 15 'all_gone ${new:-x} $(echo $kids)'"
run sh "$init" status
check "init script: status when stopped" 3 "slua is not running"
unset DAEMON CONFIG PIDFILE

# ---------------------------------------------------------------------------
# A real inetd, with the shipped conf/inetd.conf line: the port made ours,
# its paths moved under $T by make install's substitution (PREFIX and
# SYSCONFDIR); the user stays nobody when we are root.
if command -v inetd >/dev/null; then
	pfx="$T/pfx" etc="$T/etc"
	mkdir -p "$pfx/bin" "$etc/slua"
	# A copy: nobody may not reach $SLUA's directory (make mutate's is 700).
	cp "$SLUA" "$pfx/bin/slua"
	user=nobody
	[ $root = 1 ] || user=$(id -un)
	grep -v '^#' "$TOP/conf/inetd.conf" |
	    sed -e "s|/usr/local|$pfx|g" -e "s|/etc/|$etc/|g" \
		-e "s|^9000\\([[:space:]]\\)|127.0.0.1:$port\\1|" \
		-e "s|\\([[:space:]]\\)nobody\\([[:space:]]\\)|\\1$user\\2|" > "$T/inetd.conf"
	diag "inetd.conf: $(cat "$T/inetd.conf")"
	cat > "$etc/slua/handler.lua" <<'LUA'
local l = client.line()
work.submit(l)
local f = io.open("/proc/self/status")
local uid = f:read("*a"):match("\nUid:%s*(%d+)")
f:close()
print(client.ip, work.collect(), uid)
LUA
	echo 'while true do work.answer("w " .. work.accept()) end' > "$etc/slua/worker.lua"
	# A handler that fails, and one stuck in C past --handler-timeout and
	# --grace: under inetd standard error is the client too.
	cat > "$etc/slua/fail.lua" <<'LUA'
local l = client.line()
print("before " .. l)
eprint("eprint " .. l)
work.collect(work.submit("fail"))
local t = nil
t.x = 1
LUA
	cat > "$etc/slua/failw.lua" <<'LUA'
while true do
  if work.accept() == "fail" then error("the worker fails") end
end
LUA
	echo 'client.line() os.execute("exec sleep 3 </dev/null >/dev/null 2>&1")' \
	    > "$etc/slua/stuck.lua"
	fport=$(free_port) sport=$(free_port)
	printf '127.0.0.1:%s\tstream\ttcp\tnowait\t%s\t%s\tslua %s %s\n' \
	    "$fport" "$user" "$pfx/bin/slua" "$etc/slua/fail.lua" "$etc/slua/failw.lua" \
	    >> "$T/inetd.conf"
	printf '127.0.0.1:%s\tstream\ttcp\tnowait\t%s\t%s\tslua %s %s\n' \
	    "$sport" "$user" "$pfx/bin/slua" "--handler-timeout 1 --grace 1 $etc/slua/stuck.lua" \
	    "$etc/slua/failw.lua" >> "$T/inetd.conf"
	chmod 755 "$T"		# for nobody
	[ $syslog = 1 ] && chmod 666 "$T/log.sock"
	serve inetd "${inns[@]}" inetd -d "$T/inetd.conf"
	wait_port "$port" || diag "inetd does not listen"
	good=0
	for i in 1 2 3 4 5; do
		[ "$(ask "n$i")" = "127.0.0.1	w n$i	$(id -u "$user")" ] && good=$((good + 1))
	done
	is "$good" 5 "inetd with conf/inetd.conf: 5 connections served by slua in stdio mode, as $user"

	is "$(echo x | nc -N -w 10 127.0.0.1 "$fport")" "before x" \
	    "inetd: a failing handler's client gets what it printed, not the error nor eprint"
	is "$(echo y | nc -N -w 10 127.0.0.1 "$sport")" "" \
	    "inetd: a handler stuck past its timeout says nothing to the client"
	if [ $syslog = 1 ]; then
		wait_for 5 'grep -q "handler timed out" "$T/syslog"'
		hp=$(sed -n 's/^.* slua\[\([0-9]*\)\]: eprint x$/\1/p' "$T/syslog")
		like "$(logged "$hp" | tr '\n' '|')" \
		    "^<29>slua\[$hp\]: eprint x\|<28>slua\[$hp\]: 127\.0\.0\.1:[0-9]+: $etc/slua/fail\.lua:6: attempt to index local 't' \(a nil value\)\|\$" \
		    "syslog: the eprint and the error, daemon.warning, naming the client"
		is "$(grep -A2 "fail.lua:6: attempt" "$T/syslog" | sed 1d)" "stack traceback:
	$etc/slua/fail.lua:6: in main chunk" "syslog: the error's traceback, in the same message"
		like "$(cat "$T/syslog")" "^<28>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} slua\[[0-9]+\]: worker: $etc/slua/failw\.lua:2: the worker fails\$" \
		    "syslog: the worker's error, naming its role"
		like "$(cat "$T/syslog")" "^<28>slua\[[0-9]+\]: 127\.0\.0\.1:[0-9]+: handler timed out\$" \
		    "syslog: the stuck handler's last words"
	else
		for i in 1 2 3 4; do skip "syslog" "needs root for a mount namespace"; done
	fi
	halt "$inetd"
	chmod 700 "$T"

	# Standard input a socket, standard error not: the error goes to both.
	run -i x "${inns[@]}" socat -t 5 - EXEC:"$SLUA $etc/slua/fail.lua $etc/slua/failw.lua"
	is "$(cat "$T/out")|$(grep -v 'socat.*exited with status' "$T/err")" "before x|eprint x
slua: worker: $etc/slua/failw.lua:2: the worker fails
slua: $etc/slua/fail.lua:6: attempt to index local 't' (a nil value)
stack traceback:
	$etc/slua/fail.lua:6: in main chunk" "stdin a socket, stderr not: stderr has the errors and eprint"
	if [ $syslog = 1 ]; then
		is "$(grep -c "fail.lua:6: attempt" "$T/syslog")" 2 "and syslog too"
	else
		skip "syslog" "needs root for a mount namespace"
	fi
else
	for i in 1 2 3 4 5 6 7 8 9; do skip "inetd" "openbsd-inetd not installed"; done
fi

# Socket activation.
if command -v systemd-socket-activate >/dev/null; then
	serve act systemd-socket-activate -l "127.0.0.1:$port" \
	    "$SLUA" -p "$port" -H 1 "$EX/http-handler.lua"
	wait_port "$port" || diag "systemd-socket-activate does not listen"
	is "$(get /act)" "hello /act" "socket activation: slua serves the passed socket"
	stop "$act"
else
	skip "socket activation" "systemd-socket-activate not installed"
	skip "socket activation" "systemd-socket-activate not installed"
fi

# ---------------------------------------------------------------------------
# make install
run -t 120 make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr/local
check "make install DESTDIR=: exit 0" 0
is "$(cd "$T/root" && find . -type f | sort)" "./etc/init.d/slua
./etc/slua.conf
./usr/local/bin/slua
./usr/local/lib/systemd/system/slua.service
./usr/local/share/man/man1/slua.1
./usr/local/share/man/man3/slua-lua.3
./usr/local/share/man/man5/slua.conf.5
./usr/local/share/slua/examples/haproxy.cfg
./usr/local/share/slua/examples/hello-handler.lua
./usr/local/share/slua/examples/hello-worker.lua
./usr/local/share/slua/examples/http-handler.lua
./usr/local/share/slua/examples/inetd.conf
./usr/local/share/slua/rc.d/slua" "make install DESTDIR=: the files"
echo "-- mine" > "$T/root/etc/slua.conf"
run -t 120 make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr/local
is "$rc $(cat "$T/root/etc/slua.conf")" "0 -- mine" "make install keeps an existing slua.conf"
run -t 120 make -s -C "$TOP" uninstall DESTDIR="$T/root" PREFIX=/usr/local
is "$rc $(cd "$T/root" && find . -type f | sort)" "0 ./etc/slua.conf" "make uninstall leaves only the config"

done_testing
