-- The keep-alive figure's handler: one request per run, the connection
-- kept with client.keepalive(); the same bytes as nginx's answer body.
local req = client.line()
if not req then return end
repeat local line = client.line() until line == nil or line == ""
client.write("HTTP/1.1 200 OK\r\n" ..
  "Content-Type: text/plain\r\n" ..
  "Content-Length: 6\r\n\r\n" ..
  "hello\n")
client.keepalive()
