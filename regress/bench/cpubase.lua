-- The CPU figure's baseline: cpujob.lua run `count' times in one plain
-- interpreter, no IPC.
--   LUA_PATH='regress/bench/?.lua;;' lua5.1 cpubase.lua count
local cpujob = require("cpujob")
local count = tonumber(arg[1]) or 20000
local job = string.rep("j", 64)

io.stdout:setvbuf("line")
for _ = 1, 200 do
  cpujob(job)
end
print("go")
for _ = 1, count do
  cpujob(job)
end
print("done")
