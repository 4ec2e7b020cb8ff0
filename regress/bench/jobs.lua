-- The jobs figure: keep `inflight' jobs outstanding (submit ahead, collect
-- behind) for `count' jobs.  Prints "go" and "done" for stopwatch(1)'s
-- stamps; a warm-up first, so the timed part starts with every worker up.
--   slua -W 2 jobs.lua echo.lua -- count inflight
local count = tonumber(arg[1]) or 200000
local inflight = tonumber(arg[2]) or 64
local job = string.rep("j", 64)		-- relay.c's jobs are 64 bytes

local function run(n)
  local ahead = math.min(n, inflight)
  for _ = 1, ahead do
    work.submit(job)
  end
  for _ = ahead + 1, n do
    assert(work.collect(), "job failed")
    work.submit(job)
  end
  for _ = 1, ahead do
    assert(work.collect(), "job failed")
  end
end

run(math.min(count, 2000))
print("go")
run(count)
print("done")
