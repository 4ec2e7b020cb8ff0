-- The stdio example: submit three jobs, then print their answers in order.
--   slua conf/examples/hello-handler.lua conf/examples/hello-worker.lua

work.submit('hello')
work.submit('goodbye')
work.submit('really, goodbye')

print(work.collect())
print(work.collect())
print(work.collect())
