-- The status figure's load: jobs.lua's run in a tcp handler, for a client
-- that sends the count and the number in flight on a line.  Prints "go"
-- and "done" to the client, for stopwatch(1)'s stamps.
--   slua -p port -H 1 -W 2 [--status addr] tcpjobs.lua echo.lua
local line = client.line()
if not line then return end	-- a look at the port
local count, inflight = line:match("(%d+) (%d+)")
count, inflight = tonumber(count) or 200000, tonumber(inflight) or 64
local run = require "jobrun"

run(math.min(count, 2000), inflight)
print("go")
run(count, inflight)
print("done")
