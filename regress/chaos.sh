#!/bin/bash
# Chaos for the job lifecycle: N jobs through a stdio-mode slua while its
# workers are killed (SIGKILL), stopped and continued at random, and some
# jobs end their worker with os.exit or raise an error.  A ledger in the
# handler checks every job's one outcome: answered, or failed with the
# error its own kind asks for.  Prints the counts; fails when a job failed
# that should not have, got a wrong answer, or got none.
#
#	SLUA=./slua bash regress/chaos.sh [jobs] [workers]
#
# make chaos runs it long; regress/jobs.t runs a short one.
: "${SLUA:?SLUA must name the slua binary}"
jobs=${1:-200000}
workers=${2:-4}
T=$(mktemp -d "${TMPDIR:-/tmp}/slua-chaos.XXXXXX")
pid=""
trap '[ -n "$pid" ] && pkill -KILL -s "$pid"; rm -rf "$T"' EXIT
trap 'exit 143' TERM

# One job in 200 calls os.exit, one in 200 raises an error; the rest are
# answered.  A job's kind is in its text, so the ledger knows what to expect.
cat > "$T/handler.lua" <<'LUA'
local n = tonumber(arg[1])
local function kind(i)
  if i % 200 == 7 then return "exit" elseif i % 200 == 101 then return "error" end
  return "ok"
end
local answered, meant, innocent, wrong = 0, 0, 0, 0
local outstanding = 0
local i, done = 0, 0
local function take()
  local a, err = work.collect()
  done = done + 1
  local k = kind(done)
  if k == "ok" and a == done .. "!" then answered = answered + 1
  elseif k == "exit" and a == nil and err and err:find("^job failed: 2 workers died") then meant = meant + 1
  elseif k == "error" and a == nil and err and err:find("^worker error: ") then meant = meant + 1
  elseif a == nil and err then innocent = innocent + 1
    io.stderr:write("chaos: job ", done, " (", k, "): ", err, "\n")
  else wrong = wrong + 1 end
end
-- Keep about 256 in flight: answers come back while the kills go on.
while i < n do
  i = i + 1
  work.submit(i .. ":" .. kind(i))
  if i - done >= 256 then take() end
end
while done < n do take() end
print(string.format("%d jobs: %d answered, %d failed as meant, %d innocent failed, %d wrong, left %s",
    n, answered, meant, innocent, wrong, tostring(work.collect())))
LUA
cat > "$T/worker.lua" <<'LUA'
while true do
  local j = work.accept()
  local i, k = j:match("^(%d+):(%a+)$")
  if k == "exit" then os.exit(1) end
  if k == "error" then error("chaos") end
  work.answer(i .. "!")
end
LUA

setsid "$SLUA" -W "$workers" --job-timeout 5 --grace 1 "$T/handler.lua" \
    "$T/worker.lua" -- "$jobs" > "$T/out" 2> "$T/err" &
pid=$!
kills=0 stops=0
children() { cat "/proc/$1/task/$1/children" 2>/dev/null; }
while kill -0 "$pid" 2>/dev/null; do
	read -r broker _ < <(children "$pid")
	victim=$(children "${broker:-0}" | tr ' ' '\n' | grep . | shuf -n 1)
	if [ -n "$victim" ]; then
		if [ $((RANDOM % 2)) = 0 ]; then
			kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
		elif kill -STOP "$victim" 2>/dev/null; then
			stops=$((stops + 1))
			sleep 0.05
			kill -CONT "$victim" 2>/dev/null
		fi
	fi
	sleep 0.05
done
wait "$pid"
status=$?
line=$(cat "$T/out")
echo "chaos: $line; $kills workers killed, $stops stopped and continued; exit $status"
grep '^chaos: job' "$T/err" | head -5
case $line in
"$jobs jobs: "*" 0 innocent failed, 0 wrong, left nil") [ "$status" = 0 ] ;;
*) exit 1 ;;
esac
