-- The CPU-heavy worker: answers each job with cpujob.lua's result.
-- bench.sh puts this directory on LUA_PATH.
local cpujob = require("cpujob")
while true do
  work.answer(cpujob(work.accept()))
end
