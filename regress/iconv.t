# string.iconv: character set conversion.
. "$(dirname "$0")/lib.sh"
plan 22

run "$SLUA" 'print(string.iconv("caf\233", "ISO-8859-1", "UTF-8"))'
check "Latin-1 to UTF-8" 0 "café" ""

run "$SLUA" 'print(string.iconv("café", "UTF-8", "ISO-8859-1") == "caf\233")'
check "UTF-8 to Latin-1" 0 "true" ""

run "$SLUA" 'print(("é"):iconv("UTF-8", "UTF-16LE"):byte(1, -1))'
check "callable as a method" 0 "233	0" ""

run "$SLUA" 'local s = ("a\0b"):iconv("UTF-8", "UTF-16BE") print(#s, s:byte(1, -1))'
check "NUL bytes are characters" 0 "6	0	97	0	0	0	98" ""

run "$SLUA" 'print(string.iconv("", "UTF-8", "UTF-16LE") == "")'
check "the empty string" 0 "true" ""

run "$SLUA" 'local j = string.iconv("日本", "UTF-8", "ISO-2022-JP")
print(j:byte(1, -1)) print(string.iconv(j, "ISO-2022-JP", "UTF-8"))'
check "a stateful encoding ends with its shift back" 0 \
    "27	36	66	70	124	75	92	27	40	66
日本" ""

run "$SLUA" 'print(string.iconv("ab\255c", "UTF-8", "UTF-16LE"))'
check "an invalid sequence" 0 "nil	iconv: invalid input sequence at position 3" ""

run "$SLUA" 'print(string.iconv("ab\195", "UTF-8", "UTF-16LE"))'
check "an incomplete sequence at the end" 0 \
    "nil	iconv: incomplete input sequence at position 3" ""

run "$SLUA" 'print(string.iconv("x€", "UTF-8", "ISO-8859-1"))'
check "a character the target lacks" 0 \
    "nil	iconv: invalid input sequence at position 2" ""

run "$SLUA" 'print(string.iconv("x€", "UTF-8", "ISO-8859-1//TRANSLIT"),
    string.iconv("a€b", "UTF-8", "ISO-8859-1//IGNORE"))'
check "//TRANSLIT and //IGNORE" 0 "xEUR	ab" ""

run "$SLUA" 'print(string.iconv("x", "NO-SUCH-CHARSET", "UTF-8"))'
check "an unknown charset" 0 \
    "nil	iconv: cannot convert from NO-SUCH-CHARSET to UTF-8" ""

run "$SLUA" 'print(string.iconv("x", "UTF-8", "NOPE"))'
check "an unknown target charset" 0 \
    "nil	iconv: cannot convert from UTF-8 to NOPE" ""

# Large input: the output buffer grows well past its first guess.
run "$SLUA" 'local s = string.rep("\233", 1000000) .. "!"
local u = string.iconv(s, "ISO-8859-1", "UTF-8")
print(#u, u:sub(1, 4), u:sub(-3), string.iconv(u, "UTF-8", "ISO-8859-1") == s)
print(#string.iconv(string.rep("a", 1000000), "UTF-8", "UTF-32LE"))'
check "a megabyte, doubled and quadrupled" 0 "2000001	éé	é!	true
4000000" ""

run "$SLUA" 'local ok = 0
local sets = {"UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE", "UCS-2LE", "ISO-8859-1",
    "ISO-8859-15", "CP1252", "UTF-7", "UTF-16", "UTF-32", "ASCII"}
for round = 1, 3 do
	for _, cs in ipairs(sets) do
		local x = string.iconv("abc", "UTF-8", cs)
		if string.iconv(x, cs, "UTF-8") == "abc" then ok = ok + 1 end
	end
end
print(ok)'
check "more conversions than the cache holds" 0 "36" ""

run "$SLUA" 'for i = 1, 2 do
print(string.iconv("ab\255", "UTF-8", "UTF-16LE")) print(string.iconv("caf\233", "ISO-8859-1", "UTF-8")) end'
check "a cached converter is reset after an error" 0 \
    "nil	iconv: invalid input sequence at position 3
café
nil	iconv: invalid input sequence at position 3
café" ""

run "$SLUA" 'print(string.iconv("\195", "UTF-8", "UTF-16LE")) print(#string.iconv("é", "UTF-8", "UTF-16LE"))'
check "a converter left mid-sequence is reset" 0 \
    "nil	iconv: incomplete input sequence at position 1
2" ""

run "$SLUA" 'string.iconv("x", nil, "UTF-8")'
check "a missing charset is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #2 to 'iconv' (string expected, got nil)" \
    "charset argument error"

run "$SLUA" 'string.iconv("x", "UTF-8", "UTF-8\0junk")'
check "a charset with a NUL byte is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #3 to 'iconv' (name contains a NUL byte)" \
    "NUL in a charset name"

run "$SLUA" 'string.iconv(nil, "UTF-8", "UTF-8")'
check "a missing string is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'iconv' (string expected, got nil)" \
    "string argument error"

done_testing
