# string.pcrematch: PCRE2 matching.
. "$(dirname "$0")/lib.sh"
plan 31

run "$SLUA" 'print(string.pcrematch("hello world", [[(\w+) (\w+)]]))'
check "whole match, then the captures" 0 "hello world	hello	world" ""

run "$SLUA" 'print(("key=value"):pcrematch([[^(\w+)=(\w*)$]]))'
check "callable as a method" 0 "key=value	key	value" ""

run "$SLUA" 'print(("abc"):pcrematch("b"), select("#", ("abc"):pcrematch("b")))'
check "no captures: the whole match only" 0 "b	1" ""

run "$SLUA" 'print(("abc"):pcrematch("x"), select("#", ("abc"):pcrematch("x")))'
check "no match: one nil" 0 "nil	1" ""

run "$SLUA" 'print(("b"):pcrematch("(a)?(b)"))'
check "an unset capture is false, later ones keep their place" 0 "b	false	b" ""

run "$SLUA" 'print(("a"):pcrematch("(a)|(b)(c)?"))'
check "unset captures at the end are false too" 0 "a	a	false	false" ""

run "$SLUA" 'print(("abc"):pcrematch("x*"), #("abc"):pcrematch("x*"))'
check "an empty match is an empty string" 0 "	0" ""

run "$SLUA" 'print(("2024-01-02"):pcrematch([[(?<y>\d+)-(?<m>\d+)-(?<d>\d+)]]))'
check "named groups count as captures" 0 "2024-01-02	2024	01	02" ""

run "$SLUA" 'print(("ABC"):pcrematch("(?i)b"))'
check "inline options" 0 "B" ""

run "$SLUA" 'local n = 70
local t = {string.pcrematch(string.rep("a", n), string.rep("(a)", n))}
print(#t, t[1] == string.rep("a", n), t[2], t[n + 1])'
check "70 captures" 0 "71	true	a	a" ""

run "$SLUA" 'local n = 1000
local t = {string.pcrematch(string.rep("ab", n), string.rep("(a)(b)?", n))}
print(#t, t[n * 2], t[n * 2 + 1])'
check "2000 captures" 0 "2001	a	b" ""

run "$SLUA" 'print(pcall(string.pcrematch, "a", string.rep("(a)", 9000)))'
check "a pattern too large is an error" 0 \
    "false	pcrematch: regular expression is too large at offset 27000" ""

# Errors.
run "$SLUA" 'string.pcrematch("x", "(ab")'
check "a bad pattern is a Lua error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: pcrematch: missing closing parenthesis at offset 3" \
    "the error names PCRE2's message and the offset"

run "$SLUA" 'print(pcall(string.pcrematch, "x", "a{2,1}"))'
check "offset inside the pattern" 0 \
    "false	pcrematch: numbers out of order in {} quantifier at offset 5" ""

run "$SLUA" 'print(pcall(string.pcrematch, "x", "[a"))'
check "unterminated class" 0 \
    "false	pcrematch: missing terminating ] for character class at offset 2" ""

run "$SLUA" 'print(pcall(string.pcrematch, "x", "a\255"))'
check "a pattern that is not UTF-8" 0 \
    "false	pcrematch: UTF-8 error: illegal byte (0xfe or 0xff) at offset 1" ""

run "$SLUA" 'print(string.pcrematch(string.rep("a", 40) .. "b", "(*LIMIT_MATCH=1000)(a+)+$"))'
check "a match limit is a runtime failure" 0 \
    "nil	pcrematch: match limit exceeded" ""

run "$SLUA" 'string.pcrematch(nil, "x")'
check "subject not a string" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'pcrematch' (string expected, got nil)" \
    "subject argument error"

run "$SLUA" 'string.pcrematch("x")'
check "pattern missing" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #2 to 'pcrematch' (string expected, got no value)" \
    "pattern argument error"

# Binary subjects, UTF-8 mode.
run "$SLUA" 'local m = ("x\0y\0z"):pcrematch([[y\x00(.)]]) print(#m, m:byte(1, -1))'
check "NUL bytes in the subject" 0 "3	121	0	122" ""

run "$SLUA" 'print(("a\0b"):pcrematch("a\0b") == "a\0b")'
check "a NUL byte in the pattern" 0 "true" ""

run "$SLUA" 'print(("\255\254abc\128"):pcrematch("a(.)c"))'
check "invalid UTF-8 around a match" 0 "abc	b" ""

run "$SLUA" 'print(("x\255y"):pcrematch("x.y"), ("x\255y"):pcrematch("y$"))'
check "an invalid byte matches nothing, not even ." 0 "nil	y" ""

run "$SLUA" 'print(("\192\128\237\160\128"):pcrematch("."))'
check "overlong and surrogate sequences are invalid" 0 "nil" ""

run "$SLUA" 'print(("é"):pcrematch("^.$"), ("日本語"):pcrematch("^(.)(.)"))'
check ". is one UTF-8 character" 0 "é	日本	日	本" ""

run "$SLUA" 'print(("naïve"):pcrematch([[\w+]]), ("naïve"):pcrematch([[(*UCP)\w+]]))'
check "\\w is ASCII unless (*UCP)" 0 "na	naïve" ""

# The cache holds 64 patterns: use more, then the first ones again.
run "$SLUA" 'local ok = 0
for round = 1, 3 do
	for i = 1, 200 do
		local m, c = string.pcrematch("n" .. i .. "x", "n(" .. i .. ")x")
		if m == "n" .. i .. "x" and c == tostring(i) then ok = ok + 1 end
	end
end
print(ok, ("n1x"):pcrematch("n(1)x"))'
check "cache eviction keeps results right" 0 "600	n1x	1" ""

run "$SLUA" 'local p = "^(a+)(b*)$" local s = string.rep("a", 100000) .. "bb"
local n = 0 for i = 1, 1000 do local m, a, b = s:pcrematch(p) if b == "bb" then n = n + 1 end end
print(n)'
check "a cached pattern, many times" 0 "1000" ""

done_testing
