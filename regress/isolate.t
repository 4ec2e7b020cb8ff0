# tcp mode: nothing one connection does to globals, the standard library
# tables or the string metatable is seen by the next; modules loaded with
# require stay loaded.
. "$(dirname "$0")/lib.sh"
plan 19

port=$(free_port)

cat > "$T/setx.lua" <<'LUA'
X = 1
LUA
mkdir -p "$T/mods"
cat > "$T/mods/counter.lua" <<'LUA'
local n = 0
return { next = function() n = n + 1; return n end }
LUA
cat > "$T/mods/oldmod.lua" <<'LUA'
module("oldmod", package.seeall)
function hello() return "hello from oldmod" end
LUA

# The first line names what this connection does: a route to change the
# globals or a library, or "get", which prints what the next connection
# sees.  Each part of the probe is protected, so a broken library shows
# as "err", not as a failed connection.
cat > "$T/routes.lua" <<LUA
local DOFILE = "$T/setx.lua"
LUA
cat >> "$T/routes.lua" <<'LUA'
local function try(f)
  local ok, v = pcall(f)
  return ok and tostring(v) or "err"
end
local function probe()
  return try(function() return X end) .. " " ..
    try(function() return loadstring("return X")() end) .. " " ..
    try(function() return getfenv(0).X end) .. " " ..
    try(function() return type(string.upper) end) .. " " ..
    try(function() return ("a"):upper() end) .. " " ..
    try(function() return type(os.exit) end) .. " " ..
    try(function() return package.loaded.fake end) .. " " ..
    try(function() return type(table.insert) end) .. " " ..
    try(function() return math.floor(math.pi * 100) end) .. " " ..
    try(function() return type(io.write) end) .. " " ..
    try(function() return type(coroutine.wrap) end) .. " " ..
    try(function() return type(debug.traceback) end) .. " " ..
    try(function() return package.path == "nowhere" end) .. " " ..
    try(function() return type(json.encode) end)
end
local routes = {
  loadstring = function() loadstring("X = 1")() end,
  dofile = function() dofile(DOFILE) end,
  getfenv0 = function() getfenv(0).X = 1 end,
  envmeta = function() getmetatable(_G).__index.X = 1 end,
  envmetaindex = function()
    local mt = getmetatable(_G)
    mt.__index = setmetatable({ X = 1 }, { __index = mt.__index })
  end,
  setfenv = function()
    setfenv(0, setmetatable({ X = 1 }, { __index = _G }))
  end,
  rawset = function() rawset(_G, "X", 1) end,
  cfenv = function() getfenv(print).X = 1 end,
  upper = function() string.upper = nil end,
  strmeta = function()
    getmetatable("").__index = { upper = function() return "no" end }
  end,
  strsetmeta = function() debug.setmetatable("", nil) end,
  exit = function() os.exit = nil end,
  loaded = function() package.loaded.fake = "yes" end,
  libs = function()
    table.insert = nil; math.pi = 3; io.write = nil; coroutine.wrap = nil
    debug.traceback = nil; package.path = "nowhere"; json.encode = nil
  end,
}
local what = client.line()
if what == "get" then
  print(probe())
elseif what == "counter" then
  print(require("counter").next())
elseif what == "oldmod" then
  print(require("oldmod").hello())
elseif what == "oldmod?" then
  print(oldmod and oldmod.hello() or "gone")
else
  routes[what]()
  print("done")
end
LUA

say() { printf '%s\n' "$1" | nc -N -w 5 127.0.0.1 "$port"; }

clean="nil nil nil function A function nil function 314 function function function false function"
# Each route on a server of its own, then what the next connection sees.
for r in loadstring dofile getfenv0 envmeta envmetaindex setfenv rawset \
    cfenv upper strmeta strsetmeta exit loaded libs; do
	start_slua -H 1 "$T/routes.lua"
	a=$(say "$r")
	b=$(say get)
	is "$a|$b" "done|$clean" "$r: the next connection does not see it"
	halt "$srv"
done

LUA_PATH="$T/mods/?.lua" start_slua -H 1 "$T/routes.lua"
h=$(hpids 1)
is "$(say get)" "$clean" "a fresh connection sees the standard globals"

is "$(say counter)|$(say counter)" "1|2" \
    "a module loaded with require stays loaded, its upvalues shared"
is "$(say oldmod)|$(say 'oldmod?')" "hello from oldmod|hello from oldmod" \
    "the globals a module sets when require loads it stay"
ok "one handler process served them all" 'same "$h"'
stop "$srv" "the server stops on TERM"

done_testing
