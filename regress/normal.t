# Normal mode: slua as a stand-alone Lua interpreter.
. "$(dirname "$0")/lib.sh"
plan 66

jit=0
"$SLUA" -V | grep -q LuaJIT && jit=1

run "$SLUA" 'print("hi")'
check "inline code" 0 "hi" ""

run "$SLUA" 'print(1, nil, true, "x")'
check "print is tab-separated" 0 "1	nil	true	x" ""

cat > "$T/args.lua" <<'LUA'
print(arg[0], #arg, arg[1], arg[2], ...)
LUA
run "$SLUA" "$T/args.lua" -- a b
check "script with arguments after --" 0 "$T/args.lua	2	a	b	a	b" ""

run "$SLUA" -e 'x = 6' -e 'print(x * 7)'
check "-e runs in order" 0 "42" ""

run "$SLUA" -e 'print(1)' 'print(2)'
check "-e before the script" 0 "1
2" ""

run -i 'print("from stdin")' "$SLUA" -
check "- reads the program from stdin" 0 "from stdin" ""

run -i 'print("piped")' "$SLUA"
check "no script, stdin not a terminal: run stdin" 0 "piped" ""

mkdir -p "$T/mod"
echo 'mymod = { answer = 42 }' > "$T/mod/mymod.lua"
run env LUA_PATH="$T/mod/?.lua" "$SLUA" -l mymod -e 'print(mymod.answer)'
check "-l requires a module" 0 "42" ""

run env LUA_PATH="$T/mod/?.lua" "$SLUA" --require mymod -e 'print(mymod.answer)'
check "--require requires a module" 0 "42" ""

run "$SLUA" -l nosuchmodule -e 'print(1)'
check "-l with a missing module fails" 1 ""
like "$(head -1 "$T/err")" "^slua: module 'nosuchmodule' not found:" \
    "missing module error"

printf '#!/usr/bin/env slua\nprint("shebang")\n' > "$T/she.lua"
run "$SLUA" "$T/she.lua"
check "a #! line is skipped" 0 "shebang" ""

run -i 'x = 1 +
2
=x
print(x * 2)
' "$SLUA" -i
check "-i: continuation lines and =expr" 0 "> >> > 3
> 6
> " ""

echo 'y = 5' > "$T/y.lua"
run -i '=y' "$SLUA" -i "$T/y.lua"
check "-i after the script" 0 "> 5
> " ""

if command -v script >/dev/null; then
	printf 'x = 6 *\n7\n=x\n' > "$T/tty.in"
	script -qec "$SLUA" /dev/null < "$T/tty.in" > "$T/tty.out" 2>&1
	like "$(tr -d '\r' < "$T/tty.out")" "^slua [0-9.]+ \((Lua|LuaJIT)" "on a terminal, the prompt starts with a banner"
	like "$(tr -d '\r' < "$T/tty.out")" ">> > 42" "and reads continuation lines and =expr"
else
	skip "a terminal" "script(1) not installed"
	skip "a terminal" "script(1) not installed"
fi

# _PROMPT and _PROMPT2, read at each prompt (on a terminal: lua5.1 shows
# a prompt only there).  The prompts each printed, in order, under both.
prompts() {	# interpreter...
	printf 'x = 1 +\n2\n=x\n_PROMPT = "<" .. "new>"\n=1\n' > "$T/tty.in"
	script -qec "$* -e '_PROMPT = \"<one>\" _PROMPT2 = \"<two>\"' -i" \
	    /dev/null < "$T/tty.in" 2>&1 | grep -o '<one>\|<two>\|<new>' | tr -d '\n'
}
if command -v script >/dev/null; then
	got=$(prompts "$SLUA")
	is "$got" "<one><two><one><one><new><new>" \
	    "_PROMPT and _PROMPT2 set the prompts, changed as it runs"
	is "$got" "$(prompts lua5.1)" "_PROMPT and _PROMPT2: as lua5.1"
else
	skip "_PROMPT" "script(1) not installed"
	skip "_PROMPT" "script(1) not installed"
fi

# ---------------------------------------------------------------------------
# lua5.1 parity: the same command under lua5.1 and slua.  like_lua runs
# lua5.1 first (its rc, stdout and stderr, "lua5.1:" read as "slua:", kept
# in $lua_rc, $T/lua.out, $T/lua.err), then slua, whose results run leaves
# as usual.
unjit() {	# LuaJIT's last C frame ("[C]: at 0x...") read as Lua's "[C]: ?"
	sed -i 's/^\t\[C\]: at 0x[0-9a-f]*$/\t[C]: ?/' "$T/err"
}
like_lua() {	# [VAR=value...] args...
	_vars=()
	while [ $# -gt 0 ] && [[ $1 =~ ^[A-Z_]+= ]]; do _vars+=("$1"); shift; done
	run env "${_vars[@]}" lua5.1 "$@"
	lua_rc=$rc
	cp "$T/out" "$T/lua.out"
	sed 's/^lua5\.1: /slua: /' "$T/err" > "$T/lua.err"
	run env "${_vars[@]}" "$SLUA" "$@"
	unjit
}
same_as_lua() {	# desc: the last like_lua printed the same under both
	is "$rc|$(cat "$T/out")|$(cat "$T/err")" \
	    "$lua_rc|$(cat "$T/lua.out")|$(cat "$T/lua.err")" "$1"
}

# LUA_INIT runs first, before -e, with arg not set yet.
like_lua LUA_INIT='x = 6 print("init", arg)' -e 'print(x * 7)'
check "LUA_INIT: code run before -e" 0 "init	nil
42" ""
same_as_lua "LUA_INIT: as lua5.1"

printf 'print("init file", arg, ...)\ny = 7\n' > "$T/init.lua"
printf 'print(arg[0], y * 6)\n' > "$T/main.lua"
like_lua LUA_INIT="@$T/init.lua" "$T/main.lua"
check "LUA_INIT=@file: the file runs before the script" 0 "init file	nil
$T/main.lua	42" ""
same_as_lua "LUA_INIT=@file: as lua5.1"

like_lua LUA_INIT='error("bad")' -e 'print("not run")'
check "LUA_INIT: an error stops everything, with its traceback" 1 "" \
"slua: LUA_INIT:1: bad
stack traceback:
	[C]: in function 'error'
	LUA_INIT:1: in main chunk
	[C]: ?"
same_as_lua "LUA_INIT error: as lua5.1"

like_lua LUA_INIT='x = = 1' -e 'print("not run")'
check "LUA_INIT: a syntax error" 1 "" "slua: LUA_INIT:1: unexpected symbol near '='"
same_as_lua "LUA_INIT syntax error: as lua5.1"

like_lua LUA_INIT="@$T/none.lua" -e 'print("not run")'
check "LUA_INIT=@file: a missing file" 1 "" \
    "slua: cannot open $T/none.lua: No such file or directory"
same_as_lua "LUA_INIT=@missing: as lua5.1"

run env LUA_INIT='print("init")' "$SLUA" 'print(1)' 'work.accept()'
check "LUA_INIT is for normal mode only, not stdio mode" 0 "1" ""

# arg: nil while -l modules and -e code run, set for the script.
echo 'print("module", arg)' > "$T/mod/argmod.lua"
echo 'print("script", type(arg), arg[0])' > "$T/argscript.lua"
like_lua LUA_PATH="$T/mod/?.lua" -l argmod -e 'print("e", arg)' "$T/argscript.lua"
check "arg: nil during -l and -e, set for the script" 0 "module	nil
e	nil
script	table	$T/argscript.lua" ""
same_as_lua "arg during -l and -e: as lua5.1"

like_lua -e 'print(arg)'
check "arg: nil without a script" 0 "nil" ""
same_as_lua "arg without a script: as lua5.1"

# A precompiled chunk after a #! line (luac5.1's, or LuaJIT's own).
printf 'print("precompiled", select("#", ...))\nlocal t = {}\nt.x.y = 1\n' > "$T/pre.lua"
if [ $jit = 1 ]; then
	luajit -b "$T/pre.lua" "$T/pre.out"
	at="$T/pre.luac:0"	# stripped: no line numbers
else
	luac5.1 -o "$T/pre.out" "$T/pre.lua"
	at="$T/pre.lua:3"	# the name it was compiled from
fi
{ echo '#!/usr/bin/env slua'; cat "$T/pre.out"; } > "$T/pre.luac"
like_lua "$T/pre.luac"
is "$rc|$(cat "$T/out")|$(head -1 "$T/err")" \
    "1|precompiled	0|slua: $at: attempt to index field 'x' (a nil value)" \
    "a precompiled chunk after a #! line runs"
if [ $jit = 1 ]; then
	skip "precompiled chunk: as lua5.1" "LuaJIT has bytecode of its own"
else
	same_as_lua "precompiled chunk after #!: as lua5.1"
fi

# At the prompt an error prints without slua's name, as in lua(1).
run -i 'error("x")
x = = 1
' "$SLUA" -i
unjit
check "-i: errors at the prompt print bare" 0 "> > > " "stdin:1: x
stack traceback:
	[C]: in function 'error'
	stdin:1: in main chunk
	[C]: ?
stdin:1: unexpected symbol near '='"

run "$SLUA" 'error("boom")'
check "runtime error: exit 1" 1 ""
is "$(head -1 "$T/err")" "slua: (command line):1: boom" "runtime error message"
is "$(sed -n 2p "$T/err")" "stack traceback:" "runtime error traceback"

printf 'local x = 1\nfunction f() error("deep") end\nf()\n' > "$T/err.lua"
run "$SLUA" "$T/err.lua"
check "error in a file: exit 1" 1 ""
is "$(head -1 "$T/err")" "slua: $T/err.lua:2: deep" "error names file and line"
like "$(cat "$T/err")" "err.lua:3: in main chunk" "traceback names the caller"

run "$SLUA" 'x = = 1'
check "syntax error: exit 1" 1 ""
like "$(head -1 "$T/err")" "^slua: \(command line\):1: unexpected symbol near '='" \
    "syntax error message"

printf 'print(\n' > "$T/syn.lua"
run "$SLUA" "$T/syn.lua"
check "syntax error in a file" 1 "" "slua: $T/syn.lua:2: unexpected symbol near '<eof>'"

run "$SLUA" missing.lua
check "missing .lua file is an error, not code" 1 "" \
    "slua: missing.lua: No such file or directory"

run "$SLUA" "$T"
check "a directory is not a script" 1 "" "slua: $T: Is a directory"

run "$SLUA" 'os.exit(7)'
check "os.exit(n) exits n" 7 "" ""

run "$SLUA" 'io.write("a") print("b") io.write("c\n")'
check "print and io.write keep their order" 0 "ab
c" ""

run "$SLUA" 'error({})'
check "non-string error object" 1 "" "slua: (error object is a table value)"

usage='usage: slua [-dinVv] [-e code] [-f file] [-H handlers] [-l address|module]
            [-p port] [-u user] [-W workers] [options] [handler [worker]] [-- args]
       slua -h for the list of options'

run "$SLUA" --bogus
check "unknown long option" 2 "" "slua: unknown option --bogus
$usage"

run "$SLUA" -Z
check "unknown short option" 2 "" "slua: unknown option -Z
$usage"

run "$SLUA" -p
check "missing argument" 2 "" "slua: option -p needs an argument
$usage"

run "$SLUA" --workers
check "missing argument, long option" 2 "" "slua: option --workers needs an argument
$usage"

run "$SLUA" -p 0 x
check "port too small" 2 "" "slua: port 0: too small"
run "$SLUA" -p 70000 x
check "port too large" 2 "" "slua: port 70000: too large"
run "$SLUA" -W abc x y
check "workers not a number" 2 "" "slua: workers abc: invalid"
run "$SLUA" --max-job-size 12q x y
check "size with a bad suffix" 2 "" "slua: max-job-size 12q: invalid"
run "$SLUA" --max-job-size 2g x y
check "size too large" 2 "" "slua: max-job-size 2g: too large"
run "$SLUA" --timeout -1 x y
check "negative timeout" 2 "" "slua: timeout -1: too small"
run "$SLUA" a b c
check "three scripts" 2 "" "slua: c: too many scripts (script arguments go after --)"
run "$SLUA" --listen 127.0.0.1 x
check "--listen without --port" 2 "" "slua: --listen needs --port"

run "$SLUA" -V
like "$(cat "$T/out")" '^slua [0-9]+\.[0-9]+\.[0-9]+ \((Lua 5\.1|LuaJIT)' "-V names slua and Lua"
check "-V exits 0" 0

run "$SLUA" --help
check "--help exits 0" 0
like "$(cat "$T/out")" "--max-jobs" "--help lists the options"

done_testing
