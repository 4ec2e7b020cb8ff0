#!/usr/bin/env bash
# make soak: slua under a minute of steady load, then a look at whether
# anything grew.  A tcp server (4 handlers, a broker, 2 workers) answers
# `wrk -t2 -c16` with one job per request, while a stdio-mode slua (its
# handler, a broker, 2 workers) runs batches of jobs of many sizes, one in
# every batch large enough to travel in a memfd.
#
# After a warm-up of WARM seconds (default 5) of both loads, the resident
# size (VmRSS) and open descriptors of every slua process are sampled;
# SOAK_SECONDS (default 60) of wrk later, with the job load still
# running, again (each sample the least of five looks over a second).
# Prints both and fails when a process grew more than 10 % in RSS, holds
# more descriptors, died or was replaced, or when wrk saw a socket error
# or a non-2xx answer, a job failed, or a server logged more than its
# start and stop.
#
#   SLUA=build/lua5.1/slua bash regress/soak.sh
SECS=${SOAK_SECONDS:-60}
WARM=${WARM:-5}
for tool in wrk timeout; do
	if ! command -v "$tool" > /dev/null; then
		echo "soak: $tool is not installed (make deps)" >&2
		exit 2
	fi
done
# For $T, free_port, serve, wait_port, stop and the clean-up at exit.
. "$(dirname "$0")/lib.sh"
failed=0
fail() {
	echo "soak: $*"
	failed=$((failed + 1))
}

cat > "$T/worker.lua" <<'LUA'
while true do
  local j = work.accept()
  if #j > 1000 then work.answer(j)
  else work.answer(json.encode({ n = #j, s = j })) end
end
LUA
# A request's answer comes from a job, through json both ways.
cat > "$T/http.lua" <<'LUA'
local request = client.line()
repeat local h = client.line() until h == nil or h == ""
work.submit(request or "")
local a = json.decode(work.collect() or "null")
local body = a ~= json.null and a.s .. "\n" or "failed\n"
client.write("HTTP/1.0 " .. (a ~= json.null and "200 OK" or "500 Failed") ..
    "\r\nContent-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" ..
    body)
LUA
# Batches of 64 jobs of 16 bytes to 1 KiB, and one of 300 KB (over
# IPC_FDMIN), until the stop file appears; then the count of jobs and of
# failures.
cat > "$T/load.lua" <<'LUA'
local stop = ...
local done, failed = 0, 0
local big = string.rep("0123456789", 30000)
repeat
  for i = 1, 64 do work.submit(string.rep("x", i * 16)) end
  work.submit(big)
  for i = 1, 64 do
    local a = work.collect()
    local n = #string.rep("x", i * 16)
    if a and (n > 1000 and #a == n or n <= 1000 and json.decode(a).n == n)
    then done = done + 1 else failed = failed + 1 end
  end
  if work.collect() == big then done = done + 1 else failed = failed + 1 end
  local f = io.open(stop)
  if f then f:close() end
until f
print(done, failed)
LUA

port=$(free_port)
url=http://127.0.0.1:$port/soak
serve srv "$SLUA" -p "$port" -l 127.0.0.1 -H 4 -W 2 "$T/http.lua" \
    "$T/worker.lua" 2> "$T/server.err"
wait_port "$port" || fail "the tcp server did not start"
serve load "$SLUA" -W 2 "$T/load.lua" "$T/worker.lua" -- "$T/stop" \
    > "$T/load.out" 2> "$T/load.err" < /dev/null

# The pids of root and all its descendants, root first.
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	    { parent[$1] = $2; pids[NR] = $1 }
	    END {
		print root
		for (i = 1; i <= NR; i++) {
			p = pids[i]
			for (q = parent[p]; q > 1; q = parent[q])
				if (q == root) { print p; break }
		}
	    }'
}

# sample file: "pid name rss-kB fds" for every slua process, each the
# least of five looks a quarter of a second apart: a job in flight holds
# a string or a memfd for a moment, and only what stays is growth.
sample() {
	: > "$1.all"
	for _ in 1 2 3 4 5; do
		for root in "$srv" "$load"; do
			for p in $(tree "$root"); do
				look "$p" "$root" >> "$1.all"
			done
		done
		sleep 0.25
	done
	awk '{ k = $1 " " $2
		if (!(k in rss) || $3 < rss[k]) rss[k] = $3
		if (!(k in fds) || $4 < fds[k]) fds[k] = $4 }
	    END { for (k in rss) print k, rss[k], fds[k] }' "$1.all" |
	    sort -k2,2 -k1,1n > "$1"
}

look() {
	[ -r "/proc/$1/status" ] || return
	name=$(tr '\0' ' ' < "/proc/$1/cmdline" 2> /dev/null | awk '
	    $1 == "slua:" { print $2; next } { print "handler" }')
	[ "$2" = "$load" ] && name="stdio-$name" || name="tcp-$name"
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" \
	    2> /dev/null)
	fds=$(ls "/proc/$1/fd" 2> /dev/null | wc -l)
	[ -n "$rss" ] && echo "$1 $name $rss $fds"
}

timeout -k 5 $((WARM + 30)) wrk -t2 -c16 -d"${WARM}s" "$url" \
    > "$T/warm.out" 2>&1
sleep 1
sample "$T/before"
timeout -k 5 $((SECS + 60)) wrk -t2 -c16 -d"${SECS}s" "$url" \
    > "$T/wrk.out" 2>&1 || fail "wrk failed: $(tail -1 "$T/wrk.out")"
sleep 1
sample "$T/after"
touch "$T/stop"
i=0
while kill -0 "$load" 2> /dev/null && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$load"
loadrc=$?
stop "$srv"

echo "$SECS s of wrk -t2 -c16 on tcp mode, with a stdio-mode job load"
echo
awk -v limit=10 '
    FNR == NR { name[$1] = $2; rss[$1] = $3; fds[$1] = $4; next }
    { after[$1] = 1 }
    !($1 in name) { printf "%-16s %7d   new process (a respawn?)\n",
	$2, $1; bad++; next }
    {
	grow = rss[$1] ? ($3 - rss[$1]) * 100 / rss[$1] : 0
	flag = ""
	if (grow > limit) { flag = flag " RSS"; bad++ }
	if ($4 > fds[$1]) { flag = flag " FDS"; bad++ }
	printf "%-16s %7d %9d %9d %+6.1f%% %4d %4d%s\n", $2, $1, rss[$1], \
	    $3, grow, fds[$1], $4, flag
    }
    END {
	for (p in name) if (!(p in after)) {
		printf "%-16s %7d   gone\n", name[p], p; bad++
	}
	exit bad > 0
    }' "$T/before" "$T/after" > "$T/table"
tablerc=$?
printf '%-16s %7s %9s %9s %7s %4s %4s\n' process pid "RSS kB" "RSS kB" \
    growth fds fds
printf '%-16s %7s %9s %9s %7s %4s %4s\n' "" "" warm-up end "" warm-up end
cat "$T/table"
echo
[ "$tablerc" -eq 0 ] || fail "a process grew, was replaced or is gone"

reqs=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$T/wrk.out")
errs=$(grep -E 'Socket errors|Non-2xx' "$T/wrk.out")
echo "wrk: ${reqs:-0} requests, ${rps:-0}/s, ${errs:-no errors}"
[ -n "$errs" ] && fail "wrk saw errors"
[ "${reqs:-0}" -gt 0 ] 2> /dev/null || fail "wrk made no requests"
read -r jobs jobsfailed < "$T/load.out"
echo "job load: ${jobs:-0} jobs, ${jobsfailed:-?} failed, exit status $loadrc"
[ "$loadrc" -eq 0 ] && [ "${jobsfailed:-1}" -eq 0 ] ||
    fail "the job load failed"
# Starting and stopping is all the servers may have to say.
for f in server load; do
	grep -vE 'running as root|started on port|stopping$' "$T/$f.err" \
	    > "$T/$f.log"
	if [ -s "$T/$f.log" ]; then
		fail "the $f logged:"
		head -20 "$T/$f.log" | sed 's/^/    /'
	fi
done
[ "$failed" -eq 0 ] && echo "soak: ok"
[ "$failed" -eq 0 ]
