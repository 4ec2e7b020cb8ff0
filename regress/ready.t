# Readiness: slua -d returns once it serves, or fails with the reason; the
# LSB init script's start then status; systemd's notify protocol
# (NOTIFY_SOCKET) and the shipped unit; the pidfile, never written through
# a link, holding "pid\n".
. "$(dirname "$0")/lib.sh"
plan 45

TOP="$REGRESS/.."
init="$TOP/rc.d/slua.init"
port=$(free_port)
warn=""
[ "$(id -u)" = 0 ] && warn="slua: running as root: consider -u"
pre=${warn:+$warn
}	# before another line
luajit=0
"$SLUA" -V | grep -q LuaJIT && luajit=1

# Where each of a daemon's processes has its standard error.
stderrs() {	# pid
	for _p in "$1" $(pgrep -P "$1") $(procs "$1" worker); do
		readlink "/proc/$_p/fd/2"
	done | sort | uniq -c | sed 's/^ *//'
}
accepts() { (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ask() { echo "$1" | nc -N -w 10 127.0.0.1 "$port"; }
stop_daemon() {	# pid
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	wait_for 15 '! alive '"$1"
}

cat > "$T/h.lua" <<'LUA'
local l = client.line()
if not l then return end
if l == "env" then print(tostring(os.getenv("NOTIFY_SOCKET"))) return end
work.submit(l)
print(work.collect())
LUA
# The worker takes a while to load, and says when it reaches work.accept().
cat > "$T/w.lua" <<LUA
os.usleep(tonumber(os.getenv("LOAD_US") or 0))
io.open("$T/wstarted", "w"):close()
while true do work.answer("w " .. work.accept()) end
LUA
echo 'error("boom at load")' > "$T/bad.lua"

# ---------------------------------------------------------------------------
# -d: when it returns, the pidfile holds the pid, the port accepts, and a
# worker that took half a second to load has reached work.accept().
rm -f "$T/wstarted"
LOAD_US=500000 detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 2 -W 1 \
    --pidfile "$T/pid" "$T/h.lua" "$T/w.lua"
at_return="$(pidok "$T/pid" && echo pid) $(accepts "$port" && echo accepts) $([ -e "$T/wstarted" ] && echo worker)"
check "-d: exit 0 once it serves; on the terminal only the warnings before" 0 "" "$warn"
is "$at_return" "pid accepts worker" "-d returned with the pidfile written, the port open and a worker started"
d=$(cat "$T/pid" 2>/dev/null)
adopt "${d:-0}"
is "$(ask hi)" "w hi" "and it serves"
is "$(stderrs "${d:-0}")" "5 /dev/null" \
    "its supervisor, handlers, broker and worker keep no pipe to the parent: stderr is /dev/null"
stop_daemon "$d"
ok "TERM: the daemon and its pidfile are gone" '! alive "${d:-0}" && [ ! -e "$T/pid" ]'

# A stale pidfile (no lock, another pid) is taken over.
printf '999999\n' > "$T/pid"
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/pid" "$T/h.lua"
d=$(cat "$T/pid" 2>/dev/null)
adopt "${d:-0}"
ok "a stale pidfile is rewritten with the new pid" '[ "$rc" = 0 ] && [ "$d" != 999999 ] && pidok "$T/pid"'
stop_daemon "$d"

# A config file named relative to where slua started: a daemon works from
# "/", and its reload still reads that file.
printf 'port = %s\nlisten = "127.0.0.1"\nhandlers = 1\nhandler = "%s"\n' \
    "$port" "$T/h.lua" > "$T/rel.conf"
(cd "$T" && detach "$SLUA" -d -f rel.conf --pidfile "$T/pid")
d=$(cat "$T/pid" 2>/dev/null)
adopt "${d:-0}"
echo 'client.line() print("reloaded")' > "$T/h2.lua"
printf 'port = %s\nlisten = "127.0.0.1"\nhandlers = 1\nhandler = "%s"\n' \
    "$port" "$T/h2.lua" > "$T/rel.conf"
kill -HUP "${d:-0}"
wait_for 10 '[ "$(ask hi)" = reloaded ]'
is "$(ask hi)" "reloaded" "-d -f with a relative path: HUP reads the config file again"
ok "... and the daemon is the one started" 'alive "${d:-0}" && [ "$(cat "$T/pid")" = "$d" ]'
stop_daemon "$d"

# ---------------------------------------------------------------------------
# A start that fails after detaching: exit 1, the reason on stderr,
# nothing left running, no pidfile.
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 -W 1 --pidfile "$T/pid" \
    "$T/h.lua" "$T/bad.lua"
check "-d, a worker script that errors at load: exit 1 with its error" 1 "" \
    "${pre}slua: supervisor: worker cannot start: $T/bad.lua:1: boom at load"
ok "nothing of it is left running, and no pidfile" \
    'none_left && [ ! -e "$T/pid" ]'

# A handler that cannot start: a module it must require is missing, which
# only the handler finds, after the daemon detached.
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --require no_such_module \
    --pidfile "$T/pid" "$T/h.lua"
is "$rc" 1 "-d, a handler that cannot load its script: exit 1"
like "$(cat "$T/err")" "^${pre}slua: handler: module 'no_such_module' not found:
(.*
)*slua: supervisor: handler [0-9]+ died at start: exit status 1\$" \
    "the handler's error, then the supervisor's"
ok "nothing of it is left running, and no pidfile" \
    'none_left && [ ! -e "$T/pid" ]'

# Failures found before detaching, on the terminal as well.
serve busy socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" /dev/null
wait_port "$port" || diag "socat does not listen"
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/pid" "$T/h.lua"
check "-d, the port taken: exit 1 with the reason" 1 "" \
    "slua: bind 127.0.0.1:$port: Address already in use"
halt "$busy"
echo 'print(' > "$T/syntax.lua"
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/pid" "$T/syntax.lua"
check "-d, a handler script with a syntax error: exit 1 with the error" 1 "" \
    "slua: $T/syntax.lua:2: unexpected symbol near '<eof>'"
ok "neither leaves a pidfile" '[ ! -e "$T/pid" ]'

# ---------------------------------------------------------------------------
# The LSB init script: start, then at once status, 20 times in a row; each
# time the port accepts and the pidfile holds the pid when start returns.
cat > "$T/slua.conf" <<CONF
port = $port
listen = "127.0.0.1"
handler = "$T/h.lua"
worker = "$T/w.lua"
handlers = 2
workers = 1
CONF
export DAEMON="$SLUA" CONFIG="$T/slua.conf" PIDFILE="$T/init.pid"
started=0 running=0 open=0 written=0 stopped=0
for i in $(seq 1 20); do
	detach sh "$init" start
	[ "$rc" = 0 ] && started=$((started + 1))
	st=$(timeout 10 sh "$init" status)
	accepts "$port" && open=$((open + 1))
	pidok "$T/init.pid" && written=$((written + 1))
	p=$(cat "$T/init.pid" 2>/dev/null)
	adopt "${p:-0}"
	[ "$st" = "slua is running (pid ${p:-?})" ] && running=$((running + 1))
	timeout 30 sh "$init" stop > /dev/null 2>&1 &&
	    wait_for 10 "! alive ${p:-0}" && stopped=$((stopped + 1))
done
is "$started $running $open $written $stopped" "20 20 20 20 20" \
    "init script: start, then status says running, 20 times of 20 (started, running, open, pid written, stopped)"

echo 'error("boom at load")' > "$T/w.lua.bad"
sed "s|$T/w.lua|$T/w.lua.bad|" "$T/slua.conf" > "$T/bad.conf"
CONFIG="$T/bad.conf" detach sh "$init" start
check "init script: a start that fails after detaching exits 1, saying why" 1 "" \
    "${pre}slua: supervisor: worker cannot start: $T/w.lua.bad:1: boom at load"
run sh "$init" status
check "and status says not running" 3 "slua is not running"
unset DAEMON CONFIG PIDFILE

# ---------------------------------------------------------------------------
# NOTIFY_SOCKET: a listener writes each datagram as a line, newlines as
# "|"; at READY=1 it notes whether the port accepts and the worker started.
cat > "$T/notify.pl" <<'PERL'
use IO::Socket::UNIX;
use IO::Socket::INET;
use Socket;
my ($name, $file, $port, $flag) = @ARGV;
$name =~ s/^@/\0/;
my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $name)
    or die "$name: $!";
open(my $out, ">>", $file) or die "$file: $!";
$out->autoflush(1);
my $m;
while (defined $s->recv($m, 4096)) {
	if ($m =~ /^READY=1$/m) {
		my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
		    Timeout => 5);
		$m .= $c ? " [accepts" : " [refused";
		$m .= -e $flag ? ", worker]" : ", no worker]";
	}
	$m =~ s/\n/|/g;
	print $out "$m\n";
}
PERL
# The datagrams so far, the reload's clock made a constant.
said() { sed 's/MONOTONIC_USEC=[0-9][0-9]*$/MONOTONIC_USEC=N/' "$T/notify" 2>/dev/null; }
listener() {	# name: a path, or @ and an abstract name
	: > "$T/notify"
	rm -f "$T/n.sock"
	serve nl perl "$T/notify.pl" "$1" "$T/notify" "$port" "$T/wstarted"
	wait_for 5 "[ -S '$1' ] || grep -qF ' $1' /proc/net/unix"
}

listener "$T/n.sock"
rm -f "$T/wstarted"
cp "$T/w.lua" "$T/w2.lua"
NOTIFY_SOCKET="$T/n.sock" LOAD_US=300000 serve srv "$SLUA" -p "$port" \
    -l 127.0.0.1 -H 2 -W 1 "$T/h.lua" "$T/w2.lua" 2> "$T/log"
wait_for 10 'grep -q "^READY=1" "$T/notify"'
is "$(said)" "READY=1 [accepts, worker]" "notify: READY=1 once the port accepts and a worker has started"
is "$(ask env)" "nil" "NOTIFY_SOCKET is not passed on to scripts"
kill -HUP "$srv"
wait_for 10 '[ "$(grep -c "^READY=1" "$T/notify")" -ge 2 ]'
echo 'error("no")' > "$T/w2.lua"
kill -HUP "$srv"
wait_for 10 '[ "$(grep -c "^READY=1" "$T/notify")" -ge 3 ]'
kill -TERM "$srv"
wait_for 15 '! alive "$srv"'
wait_for 5 'grep -q "^STOPPING=1" "$T/notify"'
is "$(said)" "READY=1 [accepts, worker]
RELOADING=1|MONOTONIC_USEC=N
READY=1|STATUS=generation 2 serving [accepts, worker]
RELOADING=1|MONOTONIC_USEC=N
READY=1|STATUS=reload failed; still running generation 2 [accepts, worker]
STOPPING=1" "notify: READY=1, RELOADING=1 and READY=1 per HUP (a failed one too), STOPPING=1 on TERM, in order"
halt "$nl"

# A HUP while starting waits until slua serves.
listener "$T/n.sock"
rm -f "$T/wstarted"
cp "$T/w.lua" "$T/w2.lua"
NOTIFY_SOCKET="$T/n.sock" LOAD_US=500000 serve srv "$SLUA" -p "$port" \
    -l 127.0.0.1 -H 1 -W 1 "$T/h.lua" "$T/w2.lua" 2> "$T/log"
wait_for 5 '[ -n "$(procs "$srv" handler)" ]'	# its signals are set up
kill -HUP "$srv"
wait_for 10 '[ "$(grep -c "^READY=1" "$T/notify")" -ge 2 ]'
is "$(said)" "READY=1 [accepts, worker]
RELOADING=1|MONOTONIC_USEC=N
READY=1|STATUS=generation 2 serving [accepts, worker]" "notify: a HUP while starting reloads once it serves"
stop "$srv"
halt "$nl"

# Under systemd a start that cannot serve fails: exit 1, no READY=1.
listener "$T/n.sock"
NOTIFY_SOCKET="$T/n.sock" run "$SLUA" -p "$port" -l 127.0.0.1 -H 1 -W 1 \
    "$T/h.lua" "$T/bad.lua"
is "$rc $(tail -1 "$T/err")" \
    "1 slua: supervisor: worker cannot start: $T/bad.lua:1: boom at load" \
    "notify: a worker that cannot start fails the start: exit 1, saying why"
is "$(said)" "" "and nothing is said to systemd"
halt "$nl"

# An abstract socket, and -d: the waiting parent, the process systemd
# started, says READY=1 with the daemon's pid.
name="@slua-ready-$$"
listener "$name"
rm -f "$T/wstarted"
NOTIFY_SOCKET="$name" detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 -W 1 \
    --pidfile "$T/pid" "$T/h.lua" "$T/w.lua"
d=$(cat "$T/pid" 2>/dev/null)
adopt "${d:-0}"
wait_for 5 'grep -q "^READY=1" "$T/notify"'
is "$rc $(said)" "0 READY=1|MAINPID=$d [accepts, worker]" "notify, abstract socket, -d: READY=1 and MAINPID from the parent"
kill -TERM "${d:-0}"
wait_for 5 'grep -q "^STOPPING=1" "$T/notify"'
is "$(said | tail -1)" "STOPPING=1" "and the daemon says STOPPING=1"
stop_daemon "$d"
halt "$nl"

NOTIFY_SOCKET="relative/path" serve srv "$SLUA" -p "$port" -l 127.0.0.1 \
    -H 1 "$T/h.lua" 2> "$T/log"
wait_port "$port" || diag "no server: $(cat "$T/log")"
like "$(head -1 "$T/log")" "^slua: NOTIFY_SOCKET=relative/path: not a unix socket: ignored\$" \
    "a NOTIFY_SOCKET that names no unix socket is ignored, with a warning"
stop "$srv"

# ---------------------------------------------------------------------------
# The shipped systemd unit, installed under $T (a config of ours already
# there): Type=notify; systemd-analyze verify takes it; its ExecStart,
# run as systemd would, says READY=1 from the process it started.
mkdir "$T/etc" && cp "$T/slua.conf" "$T/etc/slua.conf"
run -t 120 make -s -C "$TOP" install PREFIX="$T/pfx" SYSCONFDIR="$T/etc" \
    UNITDIR="$T/unit"
unit="$T/unit/slua.service"
ok "make install: the unit, Type=notify, no -d" \
    '[ "$rc" = 0 ] && grep -qx "Type=notify" "$unit" && grep -qx "ExecStart=$T/pfx/bin/slua -f $T/etc/slua.conf" "$unit"'
if command -v systemd-analyze > /dev/null &&
    timeout 10 systemd-analyze --version > /dev/null 2>&1; then
	run -t 60 systemd-analyze verify --man=no "$unit"
	check "systemd-analyze verify: the unit is clean" 0 "" ""
else
	skip "systemd-analyze verify" "systemd-analyze is not installed"
fi
listener "$T/n.sock"
rm -f "$T/wstarted"
cmd=$(sed -n 's/^ExecStart=//p' "$unit")
# shellcheck disable=SC2086
NOTIFY_SOCKET="$T/n.sock" serve srv $cmd 2> "$T/log"
wait_for 10 'grep -q "^READY=1" "$T/notify"'
is "$(said)|$(pgrep -P "$srv" -c)" "READY=1 [accepts, worker]|3" \
    "the unit's ExecStart, as systemd runs it: READY=1 from the process it started, which serves"
stop "$srv"
halt "$nl"

# ---------------------------------------------------------------------------
# The pidfile is never written through a link, and never a special file.
echo precious > "$T/target"
ln -s "$T/target" "$T/link.pid"
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/link.pid" "$T/h.lua"
check "--pidfile a symbolic link: refused" 1 "" \
    "slua: $T/link.pid: pidfile is a symbolic link: refused"
is "$(cat "$T/target")" "precious" "and its target is untouched"
ln -s "$T/nothing" "$T/dangling.pid"
run "$SLUA" -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/dangling.pid" "$T/h.lua"
check "--pidfile a dangling symbolic link, in the foreground: refused" 1 "" \
    "slua: $T/dangling.pid: pidfile is a symbolic link: refused"
ok "and its target is not made" '[ ! -e "$T/nothing" ]'
ln "$T/target" "$T/hard.pid"
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/hard.pid" "$T/h.lua"
check "--pidfile a file with another name: refused" 1 "" \
    "slua: $T/hard.pid: pidfile has other names (hard links): refused"
is "$(cat "$T/target")" "precious" "and the file is untouched"
mkfifo "$T/fifo.pid"
detach "$SLUA" -d -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/fifo.pid" "$T/h.lua"
check "--pidfile a FIFO: refused" 1 "" \
    "slua: $T/fifo.pid: pidfile is not a regular file"

# A second slua on a locked pidfile names the first, in the foreground too.
serve srv "$SLUA" -p "$port" -l 127.0.0.1 -H 1 --pidfile "$T/fg.pid" \
    "$T/h.lua" 2> "$T/log"
wait_port "$port" || diag "no server: $(cat "$T/log")"
ok "--pidfile in the foreground: the pid and a newline" 'pidok "$T/fg.pid" && [ "$(cat "$T/fg.pid")" = "$srv" ]'
run "$SLUA" -d -p "$(free_port)" -l 127.0.0.1 -H 1 --pidfile "$T/fg.pid" "$T/h.lua"
check "a second slua on the same pidfile is refused, naming the first" 1 "" \
    "slua: already running as pid $srv ($T/fg.pid)"
stop "$srv"
ok "the pidfile goes when it stops" '[ ! -e "$T/fg.pid" ]'

done_testing
