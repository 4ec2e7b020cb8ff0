# The regress harness: sourced by every regress/*.t, which prints TAP on
# descriptor 3 (run.sh keeps it apart from what servers and commands print,
# which goes to standard error, the file's log).
#
#   plan n				the number of test points this file has;
#					done_testing fails when another number ran
#   run [-i input] [-t secs] cmd...	run cmd, bounded, in a session of its
#					own; leaves $T/out, $T/err, $rc;
#					whatever it leaves running is killed
#					and is a failure
#   check desc rc [stdout [stderr]]	compare the last run exactly; a
#					non-empty text is one line or more,
#					each ending in a newline
#   is got expected desc, like got regex desc (a regex of several lines
#					matches them in order)
#   ok desc 'condition'			one shell condition, evaluated whole
#   skip desc why			a test that cannot run here
#   wait_for secs 'condition'		poll until the condition holds; false
#					once secs have passed
#   free_port				print a free loopback TCP port
#   serve pidvar cmd...			start a server in a session of its
#					own, in the background
#   adopt pid				a server that detached itself (-d):
#					its session is ended with the others
#					at exit
#   wait_port port			wait until 127.0.0.1:port accepts
#   stop pid [desc]			TERM a slua we started; a test point:
#					it exits 0, and nothing of its session
#					is left
#   halt pid				end a helper server (socat, inetd) and
#					its session; not a test point
#   done_testing			compare with the plan; exit non-zero on
#					failure
#
# For slua servers:
#
#   start_slua args...			slua -p $port -l 127.0.0.1 args, its
#					pid in $srv, its stderr in $T/log; waits
#					for the port
#   procs pid role			the pids of pid's descendants titled
#					"slua: role", one a line
#   alive pid				running, and not a zombie
#   hpids n				$srv's handlers, once n of them are up
#   same pids				$srv's handlers are just these, still
#   accepted				connections to $port a process accepted
#   now_ms				milliseconds, for timing
#
# $SLUA is the binary under test; $T a private directory, removed at exit.

set -u
: "${SLUA:?SLUA must name the slua binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/slua-regress.XXXXXX")
REGRESS=$(cd "$(dirname "$0")" && pwd)
_n=0
_failed=0
_plan=""
_pids=""
_sids=""

# TAP goes to descriptor 3; run alone (bash x.t) it is the terminal.
if ! { true >&3; } 2>/dev/null; then exec 3>&1; fi
exec 1>&2

_cleanup() {
	for p in $_pids; do
		pkill -KILL -s "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	for s in $_sids; do pkill -KILL -s "$s" -x slua; done
	rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 143' TERM	# run.sh's time limit: clean up all the same

_pass() { _n=$((_n + 1)); echo "ok $_n - $1" >&3; }
_fail() {
	_n=$((_n + 1)); _failed=$((_failed + 1))
	echo "not ok $_n - $1" >&3
	shift
	for line in "$@"; do printf '#   %s\n' "$line" >&3; done
}
diag() { printf '# %s\n' "$*" >&3; }

plan() {
	_plan=$1
	echo "1..$1" >&3
}

# A session's members, but for zombies waiting for their reaper.  (A
# session, not a process group: slua puts each worker in a group of its
# own.)
_members() {
	ps -o pid=,stat= -s "$1" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# Wait for a session to empty; kill what is still there.  Prints what had
# to be killed.
_reap_session() {	# sid secs
	_rsid=$1	# wait_for's own $1 is its seconds
	if wait_for "$2" '[ -z "$(_members "$_rsid")" ]'; then return 0; fi
	_left=$(_members "$_rsid" | tr '\n' ' ')
	pkill -KILL -s "$_rsid" 2>/dev/null
	echo "$_left"
}

run() {
	_input=/dev/null
	_secs=20
	while :; do
		case "$1" in
		-i) printf '%s' "$2" > "$T/in"; _input="$T/in"; shift 2 ;;
		-t) _secs=$2; shift 2 ;;
		*) break ;;
		esac
	done
	# A session of its own (setsid does not fork: a background job leads
	# no group): what the command leaves behind is found there.
	setsid timeout -k 2 "$_secs" "$@" < "$_input" > "$T/out" \
	    2> "$T/err" 3>&- &
	_tpid=$!
	wait "$_tpid"
	rc=$?
	_left=$(_reap_session "$_tpid" 3)
	if [ -n "$_left" ]; then
		_fail "$1 ${2:-} left processes behind" "pids: $_left"
	fi
}

_text() {
	if [ -n "$1" ]; then printf '%s\n' "$1"; fi
}

_same() {	# file expected-text label
	_text "$2" > "$T/expect"
	if cmp -s "$1" "$T/expect"; then return 0; fi
	_diff=$(diff "$T/expect" "$1" | head -20 | sed "s/^/$3: /")
	return 1
}

check() {
	_desc=$1 _rc=$2
	_why=""
	[ "$rc" = "$_rc" ] || _why="exit status $rc, expected $_rc"
	if [ $# -ge 3 ] && ! _same "$T/out" "$3" stdout; then
		_why="$_why
$_diff"
	fi
	if [ $# -ge 4 ] && ! _same "$T/err" "$4" stderr; then
		_why="$_why
$_diff"
	fi
	if [ -z "$_why" ]; then _pass "$_desc"; return 0; fi
	# shellcheck disable=SC2086
	IFS='
'
	_fail "$_desc" $_why
	unset IFS
	return 1
}

is() {
	if [ "$1" = "$2" ]; then _pass "$3"; else
		_fail "$3" "got:      $1" "expected: $2"; fi
}

# A one-line regex may match any line of got; a regex of several lines
# (grep would take them as alternatives) must match them in order, ^ and
# $ then being the ends of got.
like() {
	case $2 in
	*"
"*)	[[ $1 =~ $2 ]] ;;
	*)	printf '%s' "$1" | grep -Eq -- "$2" ;;
	esac
	if [ $? = 0 ]; then _pass "$3"; else
		_fail "$3" "got:      $1" "expected: /$2/"; fi
}

# One condition string, so that `ok d [ a ] && [ b ]` cannot record only
# its first part: that spelling is a failure of its own.
ok() {
	if [ $# -ne 2 ]; then
		_fail "$1" "ok takes one condition string, got $(($# - 1)) words"
		return 1
	fi
	if eval "$2"; then _pass "$1"; return 0; fi
	_fail "$1" "failed: $2"
	return 1
}

skip() {
	_n=$((_n + 1)); echo "ok $_n - $1 # SKIP $2" >&3
}

wait_for() {	# secs condition
	_end=$(($(date +%s%N) + $1 * 1000000000))
	while :; do
		if eval "$2"; then return 0; fi
		[ "$(date +%s%N)" -lt "$_end" ] || return 1
		sleep 0.02
	done
}

free_port() {
	while :; do
		_p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		_hex=$(printf '%04X' "$_p")
		if ! grep -q ":$_hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null
		then echo "$_p"; return; fi
	done
}

# setsid makes the server the leader of a session of its own (it does not
# fork: a background job of a script leads no group), so stop and the exit
# trap end everything it started.
serve() {
	_var=$1; shift
	setsid "$@" 3>&- &
	_pid=$!
	_pids="$_pids $_pid"
	eval "$_var=$_pid"
}

# A daemon forked twice: its session is not its pid.
adopt() {
	[ -n "$1" ] || return 0
	_pids="$_pids $1"
	_sids="$_sids $(ps -o sid= -p "$1")"
}

# A syslog of our own: a perl listener on a socket in $T, bind-mounted on
# /dev/log in a private mount namespace where the daemon runs (the
# machine's /dev and /dev/log, whether a syslog daemon owns it or not, stay
# untouched).
own_syslog() {
	syslog=0
	inns=()
	[ "$(id -u)" = 0 ] || return 0
	serve logd perl -MIO::Socket::UNIX -MSocket -e '
		my ($path, $file) = @ARGV;
		my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
		    or die "$path: $!";
		open(my $out, ">>", $file) or die "$file: $!";
		$out->autoflush(1);
		my $m;
		print $out "$m\n" while defined $s->recv($m, 65536);
	' "$T/log.sock" "$T/syslog"
	wait_for 5 '[ -S "$T/log.sock" ]'
	mkdir "$T/dev"
	for _f in null zero random urandom log; do : > "$T/dev/$_f"; done
	cat > "$T/inns.sh" <<'SH'
d=$1; shift
for f in null zero random urandom; do
	mount --bind "/dev/$f" "$d/dev/$f" || exit 99
done
mount --bind "$d/log.sock" "$d/dev/log" && mount --rbind "$d/dev" /dev || exit 99
exec "$@"
SH
	inns=(unshare -m --propagation private sh "$T/inns.sh" "$T")
	timeout 10 "${inns[@]}" sh -c '[ -S /dev/log ] && [ -c /dev/null ]' && syslog=1
	[ $syslog = 1 ] || inns=()
}
# The lines a process sent to syslog, without their timestamps.
logged() {	# pid
	sed -n -E "s/^(<[0-9]+>)[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} (slua\\[$1\\]: )/\\1\\2/p" \
	    "$T/syslog" 2>/dev/null
}


# The daemon's files (slua -d): a run that detaches by design, bounded,
# not for run; its out, err and rc as run leaves them.
detach() {
	timeout -k 2 20 "$@" > "$T/out" 2> "$T/err" 3>&-
	rc=$?
}
# The file holds exactly a pid and a newline, of a live process.
pidok() {	# file
	[ -s "$1" ] && printf '%s\n' "$(cat "$1")" | cmp -s - "$1" &&
	    alive "$(cat "$1")"
}
# Processes running the binary under test.
ours() {
	find /proc/[0-9]*/exe -maxdepth 0 -lname "$(readlink -f "$SLUA")" \
	    2>/dev/null | cut -d/ -f3
}
# After a start that should have failed: nothing of it may be left, and
# what a regression left is killed, so that the next test starts clean.
none_left() {
	wait_for 5 '[ -z "$(ours)" ]' && return 0
	kill -KILL $(ours) 2>/dev/null
	return 1
}

# The shared queue's files: a real redis-server on $rport, a free
# loopback port.  need_redis N WHAT: without redis-server and redis-cli,
# the file's N points are skipped and it ends here.
need_redis() {	# n what
	command -v redis-server > /dev/null &&
	    command -v redis-cli > /dev/null && return 0
	for _i in $(seq "$1"); do skip "$2 $_i" "no redis-server"; done
	done_testing
	exit
}
rcli() { timeout 5 redis-cli -p "$rport" "$@"; }
# Without persistence unless the arguments, which come last, say so.
redis_up() {	# [redis-server options]
	serve rds redis-server --port "$rport" --bind 127.0.0.1 --save '' \
	    --appendonly no --daemonize no "$@"
	wait_for 10 '[ "$(rcli ping 2>/dev/null)" = PONG ]' ||
	    diag "redis-server did not start"
}

# Cut slua's command connections while Redis holds writes back (CLIENT
# PAUSE WRITE), so that what they carry is on its way.
cutcmd() {
	rcli client pause 5000 write > /dev/null
	sleep 0.3
	rcli client list | sed -n 's/^id=\([0-9]*\) .* name=slua:cmd .*/\1/p' |
	    while read -r id; do rcli client kill id "$id" > /dev/null; done
	rcli client unpause > /dev/null
}

wait_port() {
	wait_for 5 "(exec 4<>/dev/tcp/127.0.0.1/$1) 2>/dev/null"
}

# Gone: the pid is dead or a zombie, and nothing else is left of its
# session.
_gone() {	# pid sid
	{ ! kill -0 "$1" 2>/dev/null || ! alive "$1"; } &&
	    [ -z "$(_members "$2")" ]
}

stop() {	# pid [desc]
	_desc=${2:-"the server $1 stops on TERM"}
	_status=""
	# Its session: its own when we started it (serve), the one it made
	# when it detached (-d), whose leader has gone.
	_sid=$(ps -o sid= -p "$1" 2>/dev/null | tr -d ' ')
	if [ -z "$_sid" ] || ! kill -TERM "$1" 2>/dev/null; then
		_fail "$_desc" "it was not running"
		return 1
	fi
	if wait_for 15 "_gone $1 $_sid"; then
		wait "$1" 2>/dev/null
		_status=$?
	fi
	_left=$(_reap_session "$_sid" 5)
	# Once reaped, its pid may be another process's: never signal it.
	if [ -z "$_status" ]; then
		kill -KILL "$1" 2>/dev/null
	else
		_forget "$1" "$_sid"
	fi
	if [ -z "$_status" ]; then
		_fail "$_desc" "still running 15 s after TERM"
	elif [ -n "$_left" ]; then
		_fail "$_desc" "exit status $_status" "left behind: $_left"
	elif [ "$_status" != 0 ] && [ "$_status" != 127 ]; then
		# 127: not our child (it detached); its status is not ours.
		_fail "$_desc" "exit status $_status, expected 0"
	else
		_pass "$_desc"
	fi
}

halt() {
	pkill -TERM -s "$1" 2>/dev/null
	_reap_session "$1" 5 > /dev/null
	wait "$1" 2>/dev/null
	alive "$1" || _forget "$1" "$1"
	return 0
}

# A pid reaped (or a session emptied) may be reused at once, by anything
# on the machine: the exit trap must not kill what took it.
_forget() {	# pid sid
	_keep=""
	for _q in $_pids; do [ "$_q" = "$1" ] || _keep="$_keep $_q"; done
	_pids=$_keep
	_keep=""
	for _q in $_sids; do [ "$_q" = "$2" ] || _keep="$_keep $_q"; done
	_sids=$_keep
}

start_slua() {
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 "$@" 2> "$T/log"
	wait_port "$port" || diag "the server did not start: $(tail -3 "$T/log")"
}

procs() {	# pid role
	for _c in $(pgrep -P "$1"); do
		if [ "$(tr '\0' '\n' < "/proc/$_c/cmdline" 2>/dev/null | head -1)" = "slua: $2" ]; then
			echo "$_c"
		fi
		procs "$_c" "$2"
	done
}

alive() {
	[ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A handler may not have started, or named itself, when the port first
# answers.
hpids() {
	wait_for 5 "[ \$(procs $srv handler | wc -l) -ge $1 ]"
	procs "$srv" handler
}

same() { [ -n "$1" ] && [ "$(procs "$srv" handler)" = "$1" ]; }

# ss names the owner of an accepted socket, not of one still in the
# listen queue.
accepted() { ss -Htnp state established "( sport = :$port )" | grep -c 'users:'; }

done_testing() {
	if [ -z "$_plan" ]; then
		echo "1..$_n" >&3
		diag "no plan: $_n test points ran"
		exit 1
	fi
	if [ "$_n" != "$_plan" ]; then
		diag "planned $_plan test points, ran $_n"
		exit 1
	fi
	[ "$_failed" -eq 0 ]
}
