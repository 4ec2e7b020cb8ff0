# A worker-only host as a service: -d returns once a worker has reached
# work.accept() (or fails with why), the pidfile names the host, TERM
# stops it; HUP starts a new generation from the worker script as it is
# now and switches once its workers start, while every job keeps exactly
# one outcome; a script that does not compile, or whose workers cannot
# start, keeps the running one; a broker killed ends the host, status 1;
# the LSB init script runs a worker host from its config file.  A real
# redis-server on a free loopback port, as in queue.t.
. "$(dirname "$0")/lib.sh"
plan 41

need_redis 41 "worker host"

TOP="$REGRESS/.."
init="$TOP/rc.d/slua.init"
rport=$(free_port)
URL=redis://127.0.0.1:$rport
redis_up

warn=""
[ "$(id -u)" = 0 ] && warn="slua: running as root: consider -u"
pre=${warn:+$warn
}	# before another line

title() { tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | head -1; }
count() { procs "$1" "$2" | wc -l; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
hostlog() { grep '^slua: host: ' "$T/log" | grep -v 'running as root'; }

# The worker answers "VERSION:job"; the version is the script's, so a
# reload shows in the answers.  $LOAD_US delays its start, $MARK says
# when it reaches work.accept(), each job is a line in $RUNS, and each
# takes $SLOW microseconds.
version() {	# v: w.lua at that version, replaced whole (a HUP never
		# reads half a file)
	cat > "$T/w.new" <<LUA
local v = "$1"
local load = tonumber(os.getenv("LOAD_US") or "0")
if load > 0 then os.usleep(load) end
local mark, runs = os.getenv("MARK"), os.getenv("RUNS")
local slow = tonumber(os.getenv("SLOW") or "0")
if mark then local f = io.open(mark, "a") f:write(v, "\n") f:close() end
while true do
  local j = work.accept()
  if runs then local f = io.open(runs, "a") f:write(j, "\n") f:close() end
  if slow > 0 then os.usleep(slow) end
  work.answer(v .. ":" .. j)
end
LUA
	mv "$T/w.new" "$T/w.lua"
}
# Submits n jobs, checks each answer is "vK:" and its job, in order, and
# prints one line of counts, then the versions that answered.
cat > "$T/sub.lua" <<'LUA'
local n = tonumber(arg[1])
for i = 1, n do work.submit("j" .. i) end
local answered, failed, wrong, by = 0, 0, 0, {}
for i = 1, n do
  local a = work.collect()
  local v = a and a:match("^(v%d+):j" .. i .. "$")
  if v then answered = answered + 1 by[v] = (by[v] or 0) + 1
  elseif a == nil then failed = failed + 1
  else wrong = wrong + 1 end
end
print("answered " .. answered .. ", failed " .. failed .. ", wrong " ..
    wrong .. ", left " .. tostring(work.collect()))
local vs = {}
for v, c in pairs(by) do vs[#vs + 1] = v .. " " .. c end
table.sort(vs)
print(table.concat(vs, ", "))
LUA
submit() {	# n: through the shared queue, bounded
	run -t 60 "$SLUA" --queue "$URL" "$T/sub.lua" -- "$1"
}

# A syslog of our own (regress/lib.sh).
own_syslog

# ---------------------------------------------------------------------------
# -d: the parent exits once a worker has reached work.accept().
version v1
MARK="$T/mark" LOAD_US=300000 detach "${inns[@]}" "$SLUA" -d \
    --pidfile "$T/pid" --queue "$URL" -W 2 --worker "$T/w.lua"
check "-d: exit 0, on the terminal only what comes before detaching" 0 "" "$warn"
ok "-d: the parent exits only once a worker has reached work.accept()" \
    '[ -s "$T/mark" ]'
hp=$(cat "$T/pid" 2>/dev/null)
adopt "$hp"
ok "the pidfile holds the host's pid and a newline" 'pidok "$T/pid"'
is "$(title "${hp:-x}")|$(count "${hp:-x}" broker)" "slua: host|1" \
    "the pid is the host's, the parent of the broker"
ok "in a session of its own, not our child" \
    '[ "$(ps -o sid= -p "$hp")" != "$(ps -o sid= -p $$)" ] && [ "$(ps -o ppid= -p "$hp" | tr -d " ")" != $$ ]'
is "$(readlink "/proc/${hp:-x}/cwd")" "/" "the daemon works from /"
submit 10
check "the daemon's workers answer" 0 "answered 10, failed 0, wrong 0, left nil
v1 10"
run "$SLUA" -d --pidfile "$T/pid" --queue "$URL" --worker "$T/w.lua"
check "a second host with the same pidfile is refused" 1 "" \
    "slua: already running as pid $hp ($T/pid)"

# HUP to the daemon: answers come from the new script once it took over;
# one broker is left.
version v2
kill -HUP "$hp"
wait_for 20 '[ "$(grep -c v2 "$T/mark")" = 2 ] && [ "$(count "$hp" broker)" = 1 ]'
submit 10
check "after a HUP the daemon answers with the new script" 0 \
    "answered 10, failed 0, wrong 0, left nil
v2 10"
is "$(count "$hp" broker)|$(count "$hp" worker)" "1|2" \
    "the old broker and its workers are gone"
# A script that does not compile: logged to syslog, the daemon goes on.
printf 'local v = "v3"\n%%%%%%\n' > "$T/w.lua"
kill -HUP "$hp"
if [ $syslog = 1 ]; then
	wait_for 10 'logged "$hp" | grep -q "reload failed"'
	is "$(logged "$hp")" "<30>slua[$hp]: host: started, pid $hp
<30>slua[$hp]: host: reloading
<30>slua[$hp]: host: generation 2: waiting for a worker to start
<30>slua[$hp]: host: generation 2 started
<30>slua[$hp]: host: reloading
<28>slua[$hp]: host: $T/w.lua:2: unexpected symbol near '%'
<28>slua[$hp]: host: reload failed: still running generation 2" \
	    "syslog: the daemon's start, its reloads and why one failed"
else
	skip "syslog" "needs root for a mount namespace"
fi
submit 10
check "the daemon answers with the old script still" 0 \
    "answered 10, failed 0, wrong 0, left nil
v2 10"
stop "$hp" "TERM stops the daemon, and nothing of it is left"
ok "its pidfile is gone" '[ ! -e "$T/pid" ]'

# A worker that cannot start fails the start, saying why.
printf 'error("nope")\n' > "$T/bad.lua"
detach "$SLUA" -d --pidfile "$T/pid" --queue "$URL" -W 1 --worker "$T/bad.lua"
check "-d: workers that cannot start: exit 1, saying why" 1 "" \
    "${pre}slua: host: worker cannot start: $T/bad.lua:1: nope"
ok "and nothing is left, nor its pidfile" \
    'none_left && [ ! -e "$T/pid" ]'
run "$SLUA" -d --queue "$URL" --worker "$T/none.lua"
check "-d: a worker script that cannot be read: exit 1 before detaching" 1 "" \
    "slua: $T/none.lua: No such file or directory"

# ---------------------------------------------------------------------------
# HUP with jobs in flight: every job has one outcome and ran once; the
# old generation answered some, the new one the rest.
version v1
: > "$T/mark"
serve h env MARK="$T/mark" RUNS="$T/runs" SLOW=2000 "$SLUA" --queue "$URL" \
    -W 2 --worker "$T/w.lua" 2>> "$T/log"
wait_for 10 '[ "$(lines "$T/mark")" = 2 ]'
serve sub "$SLUA" --queue "$URL" "$T/sub.lua" -- 1500 > "$T/sub.out" \
    2> "$T/sub.err"
wait_for 30 '[ "$(lines "$T/runs")" -ge 200 ]'
version v2
kill -HUP "$h"
wait_for 60 '! kill -0 $sub 2>/dev/null'
halt "$sub"
is "$(head -1 "$T/sub.out")" "answered 1500, failed 0, wrong 0, left nil" \
    "jobs submitted across a HUP: each answered once, exactly"
ok "the old script answered the first, the new one the rest" \
    '[ "$(sed -n "2s/v1 [0-9]*, v2 [0-9]*/both/p" "$T/sub.out")" = both ]'
is "$(lines "$T/runs")|$(sort "$T/runs" | uniq -d | wc -l)" "1500|0" \
    "each job ran once"
wait_for 10 '[ "$(rcli xpending slua:jobs slua | head -1)" = 0 ]'
is "$(rcli xpending slua:jobs slua | head -1)" 0 \
    "and Redis holds none of them pending: each acknowledged"
is "$(hostlog)" "slua: host: started, pid $h
slua: host: reloading
slua: host: generation 2: waiting for a worker to start
slua: host: generation 2 started" "the host logs the reload"

# A script that does not compile: the running generation goes on.
printf 'local v = "v3"\n%%%%%%\n' > "$T/w.lua"
: > "$T/log"
kill -HUP "$h"
wait_for 10 'grep -q "reload failed" "$T/log"'
is "$(hostlog)" "slua: host: reloading
slua: host: $T/w.lua:2: unexpected symbol near '%'
slua: host: reload failed: still running generation 2" \
    "HUP to a script with a syntax error: logged, the running generation kept"
submit 20
check "and it answers with the old script" 0 \
    "answered 20, failed 0, wrong 0, left nil
v2 20"

# A script whose workers cannot start: jobs submitted meanwhile are the
# running generation's, and it goes on.
printf 'error("nope")\n' > "$T/w.lua"
: > "$T/runs"
kill -HUP "$h"
submit 200
check "HUP to a script whose workers cannot start: jobs meanwhile answered by the old one" 0 \
    "answered 200, failed 0, wrong 0, left nil
v2 200"
wait_for 20 'grep -q "reload failed: worker cannot start" "$T/log"'
is "$(hostlog | tail -2)" "slua: host: generation 3: waiting for a worker to start
slua: host: reload failed: worker cannot start: $T/w.lua:1: nope; still running generation 2" \
    "its workers cannot start: logged, the running generation kept"
wait_for 10 '[ "$(count "$h" broker)" = 1 ]'
is "$(lines "$T/runs")|$(count "$h" broker)" "200|1" \
    "each job ran once; the failed generation's broker is gone"

# USR1 reaches the broker.
: > "$T/log"
kill -USR1 "$h"
wait_for 10 'grep -q "broker: jobs:" "$T/log"'
like "$(cat "$T/log")" "^slua: broker: jobs: 0 queued, 0 at workers, [0-9]+ done; workers: 2, 2 idle\$" \
    "USR1 reaches the broker"

# The broker killed: the host ends, status 1, and nothing is left.
kill -KILL "$(procs "$h" broker)"
st=running
if wait_for 10 '! alive "$h"'; then wait "$h"; st=$?; fi
is "$st|$(hostlog | tail -1)" "1|slua: host: broker died (signal 9)" \
    "the broker killed: the host exits 1, saying so"
ok "its workers go too, and nothing is left" none_left
_forget "$h" "$h"

# ---------------------------------------------------------------------------
# Under systemd (NOTIFY_SOCKET): READY=1 once a worker has started (the
# listener notes whether $MARK says so), RELOADING=1 and READY=1 per HUP,
# STOPPING=1.  Each datagram a line, its newlines "|".
cat > "$T/notify.pl" <<'PERL'
use IO::Socket::UNIX;
use Socket;
my ($name, $file, $flag) = @ARGV;
my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $name)
    or die "$name: $!";
open(my $out, ">>", $file) or die "$file: $!";
$out->autoflush(1);
my $m;
while (defined $s->recv($m, 4096)) {
	$m .= -s $flag ? " [worker]" : " [no worker]" if $m =~ /^READY=1/m;
	$m =~ s/\n/|/g;
	print $out "$m\n";
}
PERL
said() { sed 's/MONOTONIC_USEC=[0-9][0-9]*$/MONOTONIC_USEC=N/' "$T/notify"; }
: > "$T/notify"
: > "$T/mark"
serve nl perl "$T/notify.pl" "$T/n.sock" "$T/notify" "$T/mark"
wait_for 5 '[ -S "$T/n.sock" ]'
version v1
NOTIFY_SOCKET="$T/n.sock" MARK="$T/mark" LOAD_US=300000 serve h "$SLUA" \
    --queue "$URL" -W 1 --worker "$T/w.lua" 2> "$T/log"
wait_for 10 'grep -q "^READY=1" "$T/notify"'
version v2
kill -HUP "$h"
wait_for 10 '[ "$(grep -c "^READY=1" "$T/notify")" -ge 2 ]'
printf 'error("nope")\n' > "$T/w.lua"
kill -HUP "$h"
wait_for 20 '[ "$(grep -c "^READY=1" "$T/notify")" -ge 3 ]'
stop "$h" "a worker host under systemd stops on TERM"
wait_for 5 'grep -q "^STOPPING=1" "$T/notify"'
is "$(said)" "READY=1 [worker]
RELOADING=1|MONOTONIC_USEC=N
READY=1|STATUS=generation 2 serving [worker]
RELOADING=1|MONOTONIC_USEC=N
READY=1|STATUS=reload failed; still running generation 2 [worker]
STOPPING=1" "notify: READY=1 once a worker started, RELOADING=1 and READY=1 per HUP (a failed one too), STOPPING=1"

# A HUP while it starts is acted on once it serves.
: > "$T/notify"
: > "$T/mark"
version v1
NOTIFY_SOCKET="$T/n.sock" MARK="$T/mark" LOAD_US=500000 serve h "$SLUA" \
    --queue "$URL" -W 1 --worker "$T/w.lua" 2> "$T/log"
wait_for 5 '[ -n "$(procs "$h" broker)" ]'	# its signals are set up
kill -HUP "$h"
wait_for 10 '[ "$(grep -c "^READY=1" "$T/notify")" -ge 2 ]'
is "$(said)" "READY=1 [worker]
RELOADING=1|MONOTONIC_USEC=N
READY=1|STATUS=generation 2 serving [worker]" \
    "notify: a HUP while the host starts reloads once it serves"
stop "$h" "that host stops on TERM"
halt "$nl"

# ---------------------------------------------------------------------------
# The LSB init script runs a worker host from its config file.
version v1
cat > "$T/worker.conf" <<EOF
queue = "$URL"
worker = "$T/w.lua"
workers = 1
EOF
: > "$T/mark"
export DAEMON="$SLUA" CONFIG="$T/worker.conf" PIDFILE="$T/init.pid" \
    MARK="$T/mark"
detach sh "$init" start
check "init script: a worker host starts" 0 "" "$warn"
hp=$(cat "$T/init.pid" 2>/dev/null)
adopt "$hp"
run sh "$init" status
check "init script: status names the running host" 0 \
    "slua is running (pid $hp)"
version v2
sed -i 's/^workers = 1$/workers = 3/' "$T/worker.conf"
run sh "$init" reload
wait_for 20 '[ "$(grep -c v2 "$T/mark")" = 3 ] && [ "$(count "$hp" broker)" = 1 ]'
submit 5
check "init script: reload, and the new script answers" 0 \
    "answered 5, failed 0, wrong 0, left nil
v2 5"
is "$(count "$hp" worker)" 3 "the reload read the config file again: 3 workers"
hsid=$(ps -o sid= -p "${hp:-x}" 2>/dev/null | tr -d ' ')
detach sh "$init" stop
ok "init script: stop ends the host" \
    '[ "$rc" = 0 ] && none_left && [ ! -e "$T/init.pid" ]'
_forget "$hp" "$hsid"

# A config file named by a relative path is read again on HUP all the
# same, though the daemon works from "/".
unset MARK
sed -i 's/^workers = .*/workers = 1/' "$T/worker.conf"
cd "$T" || exit 1
detach "$SLUA" -d -f worker.conf --pidfile "$T/pid"
cd - > /dev/null || exit 1
hp=$(cat "$T/pid" 2>/dev/null)
adopt "$hp"
sed -i 's/^workers = 1$/workers = 2/' "$T/worker.conf"
kill -HUP "${hp:-x}"
wait_for 20 '[ "$(count "$hp" worker)" = 2 ] && [ "$(count "$hp" broker)" = 1 ]'
is "$rc|$(count "$hp" worker)" "0|2" "-d -f with a relative path: a HUP reads it again"
stop "$hp" "and TERM stops that host"

halt "$rds"
done_testing
