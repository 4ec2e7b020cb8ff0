# Faults: processes killed with SIGKILL, clients that vanish.
. "$(dirname "$0")/lib.sh"
plan 21

port=$(free_port)
url="http://127.0.0.1:$port"

# The tests' own handler and worker, with no fallback: every request
# submits its path as a job and answers what collect gave, "job <path>" or
# "failed <path>: <reason>".  The handler marks each job it submitted
# ("sub <path>") and the worker each job it runs ("run <path>") in
# $T/marks.  A job under /slow/ takes 5 s, any other 10 ms (so the broker
# hands a busy worker no more jobs).
: > "$T/marks"
cat > "$T/handler.lua" <<LUA
local req = client.line()
if not req then return end
local path = req:match("^GET (%S+)") or "?"
repeat local h = client.line() until h == nil or h == ""
local body, err
local id, e = work.submit(path)
if id then
  local f = io.open("$T/marks", "a") f:write("sub ", path, "\n") f:close()
  body, err = work.collect()
else
  err = e
end
if body == nil then body = "failed " .. path .. ": " .. tostring(err) end
client.write("HTTP/1.0 200 OK\r\nContent-Length: " .. #body + 1 ..
  "\r\nConnection: close\r\n\r\n" .. body .. "\n")
LUA
cat > "$T/worker.lua" <<LUA
while true do
  local j = work.accept()
  local f = io.open("$T/marks", "a") f:write("run ", j, "\n") f:close()
  os.usleep(j:match("^/slow/") and 5000000 or 10000)
  work.answer("job " .. j)
end
LUA

urls() {	# name n: a curl config for $url/name/1..n, each body in $T/name/i
	mkdir -p "$T/$1"
	for i in $(seq 1 "$2"); do
		printf 'url = "%s/%s/%d"\noutput = "%s/%s/%d"\n' \
		    "$url" "$1" "$i" "$T" "$1" "$i"
	done > "$T/$1.urls"
}

# pid's children titled "slua: role": procs for the kill loops, with one ps
# instead of a pgrep per process.
titled() {	# pid role
	ps -o pid=,args= --ppid "$1" | awk -v r="$2" '$2 == "slua:" && $3 == r { print $1 }'
}

finish() {	# pid secs: wait for a background job, bounded; its status in $rc
	wait_for "$2" "! alive $1" || kill -KILL "$1" 2>/dev/null
	wait "$1"
	rc=$?
}

# With both slow jobs at the workers: print every job in flight, the slow
# ones and those submitted that no worker took.
inflight() {
	awk '$1 == "sub" { s[$2] = 1 } $1 == "run" { r[$2] = 1 }
	    END {
		if (!r["/slow/1"] || !r["/slow/2"] || !s["/slow/1"] || !s["/slow/2"])
			exit
		for (p in s) if (p ~ /^\/slow\// || !(p in r)) print p
	    }' "$T/marks" | sort
}

# The broker killed under load, with jobs known to be in flight: both
# workers run a slow job and other jobs wait behind them.  Each of those
# fails with "broker died", every request gets its answer or that failure,
# and new jobs work.
start_slua -H 6 -W 2 "$T/handler.lua" "$T/worker.lua"
wait_for 5 '[ -n "$(titled "$srv" broker)" ]'
old=$(titled "$srv" broker)
urls load 120
curl -s -m 30 --parallel --parallel-max 4 -K "$T/load.urls" 2>/dev/null &
load=$!
wait_for 10 '[ "$(grep -c "^run /load/" "$T/marks")" -ge 20 ]'
mkdir "$T/slow"
curl -s -m 20 -o "$T/slow/1" "$url/slow/1" &
slow1=$!
curl -s -m 20 -o "$T/slow/2" "$url/slow/2" &
slow2=$!
wait_for 10 'inflight > "$T/inflight"; [ "$(wc -l < "$T/inflight")" -ge 3 ]'
alive "$old" && kill -KILL "$old"
killed=$(date +%s%N)
diag "broker $old killed with $(wc -l < "$T/inflight") jobs in flight"
if wait_for 5 '[ "$(curl -s -m 3 "$url/after")" = "job /after" ]'; then
	ms=$((($(date +%s%N) - killed) / 1000000))
else
	ms=never
fi
finish "$load" 30
finish "$slow1" 10
finish "$slow2" 10
sed 's|.*|failed &: broker died|' "$T/inflight" > "$T/want"
got=$(while read -r p; do cat "$T$p" 2>/dev/null || echo "$p: no answer"; done \
    < "$T/inflight")
ok "2 slow jobs running and at least one queued when the broker was killed" \
    '[ "$(grep -c "^/slow/" "$T/inflight")" = 2 ] && [ "$(wc -l < "$T/inflight")" -ge 3 ]'
is "$got" "$(cat "$T/want")" "each job in flight fails in its handler with \"broker died\""
bad=""
good=0
nl='
'
for p in $(seq 1 120 | sed 's|^|load/|') slow/1 slow/2; do
	b=""
	if [ -e "$T/$p" ]; then IFS= read -r -d '' b < "$T/$p"; fi
	case "$b" in
	"job /$p$nl") good=$((good + 1)) ;;
	"failed /$p: broker died$nl") ;;
	*) bad="$bad /$p:[$b]" ;;
	esac
done
diag "$good of 122 requests answered by a job"
is "$bad" "" "broker killed under load: each request gets its job's answer or \"broker died\""
new=$(titled "$srv" broker)
ok "a new broker ($new) replaced the old ($old)" \
    '[ -n "$new" ] && [ "$new" != "$old" ] && ! alive "$old"'
like "$(cat "$T/log")" "broker $old died: killed by signal 9" "the broker's death is logged"
ok "new jobs work within a second of the kill ($ms ms; 3 s allowed)" \
    '[ "$ms" != never ] && [ "$ms" -lt 3000 ]'
stop "$srv" "the server stops on TERM after its broker died"

# The supervisor killed: nothing is left behind.
start_slua -H 2 -W 2 "$T/handler.lua" "$T/worker.lua"
kids() { titled "$srv" handler; titled "$srv" broker; procs "$srv" worker; }
wait_for 5 '[ "$(kids | wc -l)" = 5 ]'
kids=$(kids | tr '\n' ' ')
is "$(echo $kids | wc -w)" 5 "2 handlers, a broker, 2 workers"
kill -KILL "$srv"
wait "$srv" 2>/dev/null
left() { for p in $kids; do if alive "$p"; then echo "$p"; fi; done; }
wait_for 5 '[ -z "$(left)" ]'
is "$(left | tr '\n' ' ')" "" "supervisor killed: every child exits"

# Handlers and workers killed at random under load, ten of them: each
# kill hits a live process, which dies, and both pools come back to full
# size.
start_slua -H 3 -W 2 "$T/handler.lua" "$T/worker.lua"
wait_for 5 '[ "$(titled "$srv" handler | wc -l)" = 3 ] && [ "$(procs "$srv" worker | wc -l)" = 2 ]'
seq 1 200 | sed "s|.*|url = \"$url/r/&\"\noutput = /dev/null|" > "$T/r.urls"
while [ ! -e "$T/stop" ]; do
	curl -s -m 10 --parallel --parallel-max 6 -K "$T/r.urls" > /dev/null 2>&1
done &
load=$!
# kill_some n secs cmd...: SIGKILL a random one of the pids cmd prints, every
# 0.1 s, until n kills hit or secs pass; each must die within 3 s.  Counts
# the kills in $hits, the pids that did not die in $missed.
kill_some() {
	local want=$1 end=$(($(date +%s) + $2))
	shift 2
	hits=0
	missed=""
	while [ "$hits" -lt "$want" ] && [ "$(date +%s)" -lt "$end" ]; do
		victim=$("$@" | shuf -n 1)
		if [ -n "$victim" ] && alive "$victim" && kill -KILL "$victim" 2>/dev/null; then
			if wait_for 3 "! alive $victim"; then
				hits=$((hits + 1))
			else
				missed="$missed $victim"
			fi
		fi
		sleep 0.1
	done
}
broker=$(procs "$srv" broker)
victims() {	# handlers and workers, one role after the other
	if [ $((hits % 2)) = 0 ]; then titled "$broker" worker; else titled "$srv" handler; fi
}
wait_for 10 '[ "$(grep -c "^run /r/" "$T/marks")" -ge 20 ]'
kill_some 10 20 victims
runs=$(grep -c "^run /r/" "$T/marks")
touch "$T/stop"
finish "$load" 20
ok "killed $hits handlers and workers under load ($runs jobs), each died (not:$missed)" \
    '[ "$hits" -ge 10 ] && [ -z "$missed" ] && [ "$runs" -ge 100 ]'
wait_for 5 '[ "$(titled "$srv" handler | wc -l)" = 3 ]'
is "$(titled "$srv" handler | wc -l)" 3 "the handler pool is back at full size"
wait_for 5 '[ "$(titled "$broker" worker | wc -l)" = 2 ]'
is "$(titled "$broker" worker | wc -l)" 2 "the worker pool is back at full size"
is "$(curl -s -m 10 "$url/end")" "job /end" "the server answers afterwards"
stop "$srv" "the server stops on TERM after the kills"

# Workers killed at random under a job load: exactly one outcome per job,
# its answer or the failure of a job two workers died running.  The handler
# submits batches of 100 jobs until $T/enough exists.
cat > "$T/jobs.lua" <<LUA
local n, answers, errors, bad = 0, 0, 0, 0
repeat
  local first = n + 1
  for i = 1, 100 do n = n + 1 work.submit(tostring(n)) end
  for i = first, n do
    local a, err = work.collect()
    if a == "job " .. i then answers = answers + 1
    elseif a == nil and tostring(err):match("^job failed: 2 workers died running it ")
    then errors = errors + 1
    else bad = bad + 1 end
  end
until (io.open("$T/enough") and n >= 1000) or n >= 200000
io.stderr:write(n, " jobs, ", errors, " failed\n")
print(n == answers + errors, bad, work.collect())
LUA
cat > "$T/slowworker.lua" <<'LUA'
while true do
  local j = work.accept()
  os.usleep(2000)
  work.answer("job " .. j)
end
LUA
"$SLUA" -W 3 "$T/jobs.lua" "$T/slowworker.lua" > "$T/out" 2> "$T/err" &
jobs=$!
wait_for 5 '[ "$(procs "$jobs" worker | wc -l)" = 3 ]'
broker=$(procs "$jobs" broker)
kill_some 10 20 titled "$broker" worker
touch "$T/enough"
finish "$jobs" 60
diag "$(grep ' jobs, ' "$T/err")"
is "$rc $(cat "$T/out")" "0 true	0	nil" \
    "workers killed at random: as many outcomes as jobs, none lost or doubled"
ok "killed $hits workers while the jobs ran, each died (not:$missed)" \
    '[ "$hits" -ge 10 ] && [ -z "$missed" ]'

# Clients that vanish: mid-write, mid-read, half-close.
cat > "$T/big.lua" <<'LUA'
local l = client.line()
if l == "big" then
  local ok, err = client.write(string.rep("x", 8 * 1024 * 1024))
  eprint("write:", ok, err)
elseif l == "read" then
  eprint("read:", client.read(1000))
else
  print("echo " .. tostring(l), client.line())
end
LUA
start_slua -H 1 "$T/big.lua"
wait_for 5 '[ -n "$(procs "$srv" handler)" ]'
handler=$(procs "$srv" handler)
echo big | timeout 5 nc -w 5 127.0.0.1 "$port" | head -c 1000 > /dev/null
wait_for 5 'grep -q "write:" "$T/log"'
like "$(cat "$T/log")" "write:	nil	(Broken pipe|Connection reset by peer)" \
    "a client gone mid-write: client.write returns nil and why"
printf 'read\nabc' | timeout 5 nc -w 5 -q 0 127.0.0.1 "$port" > /dev/null
wait_for 5 'grep -q "read:" "$T/log"'
like "$(cat "$T/log")" "read:	abc" "a client gone mid-read: the read returns what came"
is "$(printf 'half\n' | timeout 5 nc -w 5 -N 127.0.0.1 "$port")" "echo half	nil" \
    "a half-close: the handler reads the end and answers"
ok "the handler ($handler) survived every one" \
    '[ -n "$handler" ] && [ "$(procs "$srv" handler)" = "$handler" ]'
stop "$srv" "the server stops on TERM"

done_testing
