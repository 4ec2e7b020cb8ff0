-- The tcp+job figure's handler: http.lua with one job round trip per
-- request.  echo.lua answers the body back, so the reply is the same
-- bytes as prefork.c's.
repeat
  local line = client.line()
until line == nil or line == ""
work.submit("hello\n")
local body = work.collect() or "failed"
client.write("HTTP/1.0 200 OK\r\n" ..
  "Content-Type: text/plain\r\n" ..
  "Content-Length: " .. #body .. "\r\n" ..
  "Connection: close\r\n\r\n" ..
  body)
