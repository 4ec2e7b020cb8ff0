-- The latency figure: one job in flight, submit then collect, `count'
-- times.
--   slua -W 2 latency.lua echo.lua -- count
local count = tonumber(arg[1]) or 20000
local job = string.rep("j", 64)

for _ = 1, 200 do
  work.submit(job)
  assert(work.collect(), "job failed")
end
print("go")
for _ = 1, count do
  work.submit(job)
  assert(work.collect(), "job failed")
end
print("done")
