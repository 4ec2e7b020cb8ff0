-- The trivial worker: every answer is its job.
while true do
  work.answer(work.accept())
end
