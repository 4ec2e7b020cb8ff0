# Faults: processes killed with SIGKILL, clients that vanish.
. "$(dirname "$0")/lib.sh"

EX="$REGRESS/../conf/examples"
port=$(free_port)
url="http://127.0.0.1:$port"
worker='while true do work.answer("job " .. work.accept()) end'

start_slua() {
	serve srv "$SLUA" -p "$port" -l 127.0.0.1 "$@" 2> "$T/log"
	wait_port "$port" || echo "# server did not start"
}
children() {	# role: pids of the server's processes in that role
	for p in $(pgrep -P "$srv") $(pgrep -P "$(pgrep -P "$srv" -f 'slua: broker' | head -1)" 2>/dev/null); do
		if tr '\0' '\n' < /proc/$p/cmdline 2>/dev/null | head -1 | grep -qx "slua: $1"; then
			echo "$p"
		fi
	done
}
alive() {	# pid: running, not a zombie waiting for its reaper
	[ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}
urls() {	# n: a curl config for n requests
	: > "$T/urls"
	for i in $(seq 1 "$1"); do echo "url = \"$url/$i\""; done > "$T/urls"
}

# The broker killed under load: outstanding jobs fail, new ones work.
start_slua -H 2 -W 2 "$EX/http-handler.lua" "$worker"
urls 600
curl -s --parallel --parallel-max 8 -K "$T/urls" > "$T/bodies" 2>/dev/null &
load=$!
sleep 0.3
old=$(children broker)
kill -9 "$old"
wait $load
total=$(wc -l < "$T/bodies")
good=$(grep -c '^job /' "$T/bodies")
failed=$(grep -c '^job failed$' "$T/bodies")
is "$total" 600 "broker killed under load: every request answered"
is "$((good + failed))" 600 "each with its job's answer or its failure"
sleep 1
is "$(curl -s "$url/after")" "job /after" "new jobs work within a second"
new=$(children broker)
ok "a new broker replaced the old" [ -n "$new" ] && [ "$new" != "$old" ]
like "$(cat "$T/log")" "broker $old died: killed by signal 9" "the broker's death is logged"
stop "$srv"

# The supervisor killed: nothing is left behind.
start_slua -H 2 -W 2 "$EX/http-handler.lua" "$worker"
sleep 0.3
kids="$(children handler) $(children broker) $(children worker)"
is "$(echo $kids | wc -w)" 5 "2 handlers, a broker, 2 workers"
kill -9 "$srv"
sleep 0.5
left=""
for p in $kids; do alive "$p" && left="$left $p"; done
is "$left" "" "supervisor killed: every child exits"

# Handlers and workers killed at random under load.
start_slua -H 3 -W 2 "$EX/http-handler.lua" "$worker"
urls 300
sed -i 's|$|\noutput = /dev/null|' "$T/urls"
end=$(($(date +%s) + 10))
while [ "$(date +%s)" -lt "$end" ]; do
	curl -s --parallel --parallel-max 8 -K "$T/urls" > /dev/null 2>&1
done &
load=$!
kills=0
while [ "$(date +%s)" -lt "$end" ]; do
	role=handler; [ $((kills % 2)) = 0 ] && role=worker
	victim=$(children $role | shuf -n 1)
	[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && kills=$((kills + 1))
	sleep 0.1
done
wait $load
sleep 1.5
ok "killed $kills processes in 10 s" [ "$kills" -gt 10 ]
is "$(children handler | wc -l)" 3 "the handler pool is back at full size"
is "$(children worker | wc -l)" 2 "the worker pool is back at full size"
is "$(curl -s "$url/end")" "job /end" "the server answers afterwards"
stop "$srv"

# Workers killed at random under a job load: exactly one outcome per job.
cat > "$T/jobs.lua" <<'LUA'
local n = 3000
for i = 1, n do work.submit(tostring(i)) end
local answers, errors, bad = 0, 0, 0
for i = 1, n do
  local a, err = work.collect()
  if a == "job " .. i then answers = answers + 1
  elseif a == nil and err then errors = errors + 1
  else bad = bad + 1 end
end
print(answers + errors, bad, work.collect())
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
sleep 0.5
broker=$(pgrep -P $jobs | head -1)
kills=0
while kill -0 $jobs 2>/dev/null && [ $kills -lt 40 ]; do
	victim=$(pgrep -P "$broker" | shuf -n 1)
	[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && kills=$((kills + 1))
	sleep 0.1
done
wait $jobs
is "$(cat "$T/out")" "3000	0	nil" "workers killed at random: 3000 jobs, 3000 outcomes, none lost or doubled"

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
echo big | timeout 5 nc 127.0.0.1 "$port" | head -c 1000 > /dev/null
sleep 0.5
like "$(cat "$T/log")" "write:	nil	(Broken pipe|Connection reset by peer)" \
    "a client gone mid-write: client.write returns nil and why"
printf 'read\nabc' | timeout 5 nc -q 0 127.0.0.1 "$port" > /dev/null
sleep 0.3
like "$(cat "$T/log")" "read:	abc" "a client gone mid-read: the read returns what came"
is "$(printf 'half\n' | nc -N 127.0.0.1 "$port")" "echo half	nil" "a half-close: the handler reads the end and answers"
ok "the handler survived every one" kill -0 "$(children handler)"
stop "$srv"

done_testing
