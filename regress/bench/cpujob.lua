-- The CPU-heavy job, shared by cpu.lua (in slua's workers) and cpubase.lua
-- (in the plain interpreter): string building, formatting, sorting, a
-- pattern scan and table churn, so the figure moves with the Lua VM and
-- not with the IPC.
return function(job)
  local words = {}
  for i = 1, 120 do
    words[i] = string.format("%s-%03d-%x", job, (i * 37) % 120, i * i)
  end
  table.sort(words)
  local text = table.concat(words, " ")
  local counts = {}
  for word in text:gmatch("%S+") do
    local key = word:sub(-2)
    counts[key] = (counts[key] or 0) + 1
  end
  local n = 0
  for _, c in pairs(counts) do
    n = n + c
  end
  return text:upper():sub(1, 16) .. n
end
