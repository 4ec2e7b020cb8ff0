-- The payload figure: a 16 MiB job whose answer (from echo.lua) is the same
-- 16 MiB, `rounds' times after one untimed round.
--   slua -W 2 payload.lua echo.lua -- rounds
local rounds = tonumber(arg[1]) or 8
local size = 16 * 1024 * 1024
local job = string.rep("p", size)

local function once()
  work.submit(job)
  local answer = assert(work.collect(), "job failed")
  assert(#answer == size, "answer of " .. #answer .. " bytes")
end

once()
print("go")
for _ = 1, rounds do
  once()
end
print("done")
