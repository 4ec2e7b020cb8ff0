-- A small HTTP/1.0 handler for tcp mode: answers every GET with a line of
-- text; with a worker script, the text comes from a job.
--   slua -p 8080 -l 127.0.0.1 conf/examples/http-handler.lua
local request = client.line()
if not request then return end
local method, path = request:match("^(%u+) (%S+) HTTP/%d%.%d$")
repeat
  local header = client.line()
until header == nil or header == ""

local function reply(status, body)
  client.write("HTTP/1.0 " .. status .. "\r\n" ..
    "Content-Type: text/plain\r\n" ..
    "Content-Length: " .. #body .. "\r\n" ..
    "Connection: close\r\n\r\n" .. body)
end

if method ~= "GET" then
  return reply("400 Bad Request", "bad request\n")
end
local text = "hello " .. path
if work.pool() > 0 then
  work.submit(path)
  text = work.collect() or "job failed"
end
reply("200 OK", text .. "\n")
