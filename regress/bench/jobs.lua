-- The jobs figure: keep `inflight' jobs outstanding (submit ahead, collect
-- behind) for `count' jobs.  Prints "go" and "done" for stopwatch(1)'s
-- stamps; a warm-up first, so the timed part starts with every worker up.
--   slua -W 2 jobs.lua echo.lua -- count inflight
local count = tonumber(arg[1]) or 200000
local inflight = tonumber(arg[2]) or 64
local run = require "jobrun"

run(math.min(count, 2000), inflight)
print("go")
run(count, inflight)
print("done")
