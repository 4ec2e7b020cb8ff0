# tcp mode: nothing one connection does to globals, the standard library
# tables or the string metatable is seen by the next; modules loaded with
# require stay loaded.
. "$(dirname "$0")/lib.sh"
plan 31

port=$(free_port)

cat > "$T/setx.lua" <<'LUA'
X = 1
LUA
mkdir -p "$T/mods"
cat > "$T/mods/counter.lua" <<'LUA'
local n = 0
return { next = function() n = n + 1; return n end }
LUA
cat > "$T/mods/greet.lua" <<'LUA'
local M = {}
function M.hi() return string.format("hi %d", 1) end
return M
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
    try(function() return type(json.encode) end) .. " " ..
    try(function() return require("greet").hi() end) .. " " ..
    try(function() return tostring(table.nope) end) .. " " ..
    try(function() return type(client.write) .. tostring(client.mine) end)
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
  modfenv = function() getfenv(require("greet").hi).X = 1 end,
  modsetfenv = function() setfenv(require("greet").hi, {}) end,
  registry = function() debug.getregistry()._LOADED.fake = "yes" end,
  reqstring = function() require("string").upper = nil end,
  strindex = function() getmetatable("").__index.upper = nil end,
  upper = function() string.upper = nil end,
  strmeta = function()
    getmetatable("").__index = { upper = function() return "no" end }
  end,
  strsetmeta = function() debug.setmetatable("", nil) end,
  setmeta = function()
    setmetatable(table, { __index = function() return "leak" end })
  end,
  exit = function() os.exit = nil end,
  client = function() client.write = nil; client.mine = 1 end,
  clientmeta = function() getmetatable(client).__index.write = nil end,
  clientsetmeta = function() setmetatable(client, nil) end,
  clientfields = function()
    getmetatable(getmetatable(client).__index).__index =
      function() return "leak" end
  end,
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
elseif what == "errors" then
  local function e(f, ...) return select(2, pcall(f, ...)) end
  print(e(getfenv, -1)) print(e(getfenv, 50)) print(e(setfenv, print, {}))
  print(e(setfenv, 1, 2)) print(e(getmetatable))
  print(getmetatable(setmetatable({}, { __metatable = "locked" })))
  local function f() return getfenv(1) == getfenv(0) end
  print(f(), getfenv() == _G, getfenv(0) == _G, setfenv(f, _G) == f)
  getfenv(-1)
elseif routes[what] then
  routes[what]()
  print("done")
end
LUA

say() { printf '%s\n' "$1" | nc -N -w 5 127.0.0.1 "$port"; }

clean="nil nil nil function A function nil function 314 function function function false function hi 1 nil functionnil"
# Each route on a server of its own, then what the next connection sees.
export LUA_PATH="$T/mods/?.lua"
for r in loadstring dofile getfenv0 envmeta envmetaindex setfenv rawset \
    cfenv modfenv modsetfenv registry reqstring strindex upper strmeta \
    strsetmeta setmeta exit client clientmeta clientsetmeta clientfields \
    loaded libs; do
	start_slua -H 1 "$T/routes.lua"
	a=$(say "$r")
	b=$(say get)
	is "$a|$b" "done|$clean" "$r: the next connection does not see it"
	halt "$srv"
done

start_slua -H 1 "$T/routes.lua"
h=$(hpids 1)
is "$(say get)" "$clean" "a fresh connection sees the standard globals"

# "libs" reaches the standard globals: every kept table is put back.
is "$(say counter)|$(say libs)|$(say counter)" "1|done|2" \
    "a module loaded with require stays loaded, its upvalues shared"
is "$(say oldmod)|$(say libs)|$(say 'oldmod?')" \
    "hello from oldmod|done|hello from oldmod" \
    "the globals a module sets when require loads it stay"
is "$(say errors)" "bad argument #1 to '?' (level must be non-negative)
bad argument #1 to '?' (invalid level)
'setfenv' cannot change environment of given object
bad argument #2 to '?' (table expected, got number)
bad argument #1 to '?' (value expected)
locked
true	true	true	true" "getfenv, setfenv and getmetatable behave and fail as Lua's"
like "$(cat "$T/log")" "routes\.lua:[0-9]+: bad argument #1 to 'getfenv' \(level must be non-negative\)" \
    "a bad level is an error naming getfenv"
ok "one handler process served them all" 'same "$h"'
stop "$srv" "the server stops on TERM"

done_testing
