# The regress harness: sourced by every regress/*.t, which prints TAP.
#
#   run [-i input] [-t secs] cmd...	run cmd; leaves $T/out, $T/err, $rc
#   check desc rc [stdout [stderr]]	compare the last run exactly; a
#					non-empty text is one line or more,
#					each ending in a newline
#   is got expected desc, like got regex desc, ok desc cmd...
#   skip desc why			a test that cannot run here
#   free_port				print a free loopback TCP port
#   serve pidvar cmd...			start a server in the background
#   wait_port port			wait until 127.0.0.1:port accepts
#   stop pid				TERM, then KILL, a server we started
#   done_testing			print the plan; exit non-zero on failure
#
# $SLUA is the binary under test; $T a private directory, removed at exit.

set -u
: "${SLUA:?SLUA must name the slua binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/slua-regress.XXXXXX")
REGRESS=$(cd "$(dirname "$0")" && pwd)
_n=0
_failed=0
_pids=""

_cleanup() {
	for p in $_pids; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap _cleanup EXIT

_pass() { _n=$((_n + 1)); echo "ok $_n - $1"; }
_fail() {
	_n=$((_n + 1)); _failed=$((_failed + 1))
	echo "not ok $_n - $1"
	shift
	for line in "$@"; do printf '#   %s\n' "$line"; done
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
	timeout -k 2 "$_secs" "$@" < "$_input" > "$T/out" 2> "$T/err"
	rc=$?
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

like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then _pass "$3"; else
		_fail "$3" "got:      $1" "expected: /$2/"; fi
}

ok() {
	_desc=$1; shift
	if "$@"; then _pass "$_desc"; else _fail "$_desc" "failed: $*"; fi
}

skip() {
	_n=$((_n + 1)); echo "ok $_n - $1 # SKIP $2"
}

free_port() {
	while :; do
		_p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		_hex=$(printf '%04X' "$_p")
		if ! grep -q ":$_hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null
		then echo "$_p"; return; fi
	done
}

serve() {
	_var=$1; shift
	"$@" &
	_pid=$!
	_pids="$_pids $_pid"
	eval "$_var=$_pid"
}

wait_port() {
	_i=0
	while [ $_i -lt 100 ]; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

stop() {
	kill -TERM "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 100 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" -eq 0 ]
}
