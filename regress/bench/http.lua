-- The tcp figure's handler: read the request head, send a fixed reply.
-- prefork.c sends the same bytes.
repeat
  local line = client.line()
until line == nil or line == ""
client.write("HTTP/1.0 200 OK\r\n" ..
  "Content-Type: text/plain\r\n" ..
  "Content-Length: 6\r\n" ..
  "Connection: close\r\n\r\n" ..
  "hello\n")
