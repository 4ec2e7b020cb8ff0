# print and eprint: Lua's formatting, one line per write.
. "$(dirname "$0")/lib.sh"
plan 21

run "$SLUA" 'print(1, nil, true, false, 2.5, "s", 1e100)'
check "tab-separated, formatted by tostring" 0 "1	nil	true	false	2.5	s	1e+100" ""

run "$SLUA" 'print() print("")'
check "no arguments: an empty line" 0 "
" ""

run "$SLUA" 'local mt = {__tostring = function(t) return "<" .. t.name .. ">" end}
print(setmetatable({name = "a"}, mt), setmetatable({name = "b"}, mt))'
check "print honours __tostring" 0 "<a>	<b>" ""

run "$SLUA" 'tostring = function(v) return "[" .. type(v) .. "]" end print(1, "x", nil)'
check "print calls the global tostring" 0 "[number]	[string]	[nil]" ""

run "$SLUA" 'print(setmetatable({}, {__tostring = function() return {} end}))'
check "tostring must return a string" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: 'tostring' must return a string to 'print'" \
    "the error, as lua(1) words it"

run "$SLUA" 'print(select("#", print("x")))'
check "print returns nothing" 0 "x
0" ""

run "$SLUA" 'eprint("to", "stderr", nil, setmetatable({}, {__tostring = function() return "T" end}))'
check "eprint writes to standard error" 0 "" "to	stderr	nil	T"

run "$SLUA" 'io.write("a") print("b") io.write("c") eprint("e") io.write("\n")'
check "eprint leaves standard output alone" 0 "ab
c" "e"

run "$SLUA" 'eprint(setmetatable({}, {__tostring = function() return true end}))'
check "eprint: tostring must return a string" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: 'tostring' must return a string to 'eprint'" \
    "eprint names itself"

run "$SLUA" 'print("a\0b", "\0")'
is "$rc:$(od -An -c "$T/out" | tr -s ' ')" "0: a \\0 b \\t \\0 \\n" "NUL bytes are printed"

run "$SLUA" 'print(string.rep("x", 1000000), string.rep("y", 1000000))'
is "$rc:$(wc -c < "$T/out")" 0:2000002 "a two-megabyte line"
is "$(tr -d 'x' < "$T/out" | tr -d '\n' | tr -s 'y\t')" "	y" "all of it, in order"

run "$SLUA" 'local t = {} for i = 1, 5000 do t[i] = i end print(unpack(t))'
is "$rc:$(tr '\t' '\n' < "$T/out" | wc -l)" 0:5000 "5000 arguments"

# LeakSanitizer cannot run under ptrace: no leak check in these two.
if command -v strace > /dev/null 2>&1; then
	ASAN_OPTIONS=detect_leaks=0 strace -f -o "$T/trace" -e trace=write \
	    "$SLUA" 'print(string.rep("x", 100000), 1, 2, 3)' > /dev/null 2>&1
	is "$(grep -c 'write(1,' "$T/trace")" 1 "one line, one write(2)"
	ASAN_OPTIONS=detect_leaks=0 strace -f -o "$T/trace" -e trace=write \
	    "$SLUA" 'eprint(string.rep("x", 100000), 1, 2, 3)' 2> /dev/null
	is "$(grep -c 'write(2,' "$T/trace")" 1 "eprint: one line, one write(2)"
else
	skip "one line, one write(2)" "no strace"
	skip "eprint: one line, one write(2)" "no strace"
fi

# Four processes print long lines into one pipe at once: no line is torn.
for c in a b c d; do
	"$SLUA" "local s = string.rep('$c', 3000) for i = 1, 2000 do print(s, i) end" &
done | cat > "$T/mixed"
is "$(wc -l < "$T/mixed")" 8000 "8000 lines from four processes"
is "$(awk -F '\t' '{ s = $1; gsub(substr($1, 1, 1), "", s) }
    NF != 2 || length($1) != 3000 || s != "" || $2 !~ /^[0-9]+$/ { n++ }
    END { print n + 0 }' "$T/mixed")" 0 "every line whole"

"$SLUA" 'local ok, e = print("x") io.stderr:write(tostring(ok), " ", e, "\n")' \
    >&- 2> "$T/err"
is "$(cat "$T/err")" "nil print: Bad file descriptor" \
    "a failed write returns nil, message"

"$SLUA" 'local ok, e repeat ok, e = print("line") until e io.stderr:write(e, "\n")' \
    2> "$T/err" | head -1 > /dev/null
is "$(cat "$T/err")" "print: Broken pipe" "a closed pipe is an error, not a signal"

done_testing
