-- The worker for hello-handler.lua: answer each job with " world" added.

while true do
  work.answer(work.accept() .. ' world')
end
