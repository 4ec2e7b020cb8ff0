-- What jobs.lua and tcpjobs.lua run: keep `inflight' jobs outstanding
-- (submit ahead, collect behind) for `n' jobs of relay.c's 64 bytes.
local job = string.rep("j", 64)

return function(n, inflight)
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
