# json.encode and json.decode.
. "$(dirname "$0")/lib.sh"
plan 81

# Decode s and print the result re-encoded, or the error.
dec() {
	run "$SLUA" -e "s = [==[$1]==]" 'local v, e = json.decode(s)
if e then print(v, e) elseif type(v) == "table" then print(json.encode(v))
else print(type(v), v) end'
}

dec '{"b":[1,2.5,"x"],"a":{"c":null,"d":true,"e":false}}'
check "decode an object, encode it back with sorted keys" 0 \
    '{"a":{"c":null,"d":true,"e":false},"b":[1,2.5,"x"]}' ""

dec ' [ 1 , [ ] , { } ] '
check "whitespace; empty array and object" 0 '[1,{},{}]' ""

run "$SLUA" 'print(json.encode({}), json.encode({{}, {n = {}}}))'
check "an empty table encodes as {}" 0 '{}	[{},{"n":{}}]' ""

run "$SLUA" 'print(json.encode({1, 2, 3}), json.encode({[1] = "a", [2] = "b"}))'
check "keys exactly 1..n: an array" 0 '[1,2,3]	["a","b"]' ""

run "$SLUA" 'print(json.encode({[1] = 1, [3] = 3}), json.encode({1, 2, x = 3}))'
check "other tables are objects, number keys as strings" 0 \
    '{"1":1,"3":3}	{"1":1,"2":2,"x":3}' ""

run "$SLUA" 'print(json.encode({[1] = 1, ["1"] = 2}))'
check "a number key and a string key that collide" 0 \
    'nil	json.encode: duplicate key "1"' ""

run "$SLUA" 'print(json.encode({[true] = 1}))'
check "a boolean key" 0 "nil	json.encode: cannot encode boolean key" ""

run "$SLUA" 'print(json.encode({a = {["k\0"] = 1}}))'
check "a key with a NUL byte" 0 \
    "nil	json.encode: cannot encode key with a NUL byte at .a" ""

# Scalars both ways.
run "$SLUA" 'print(json.encode(3), json.encode(-7), json.encode(0.1), json.encode(1/3),
    json.encode(1e300), json.encode(2^53), json.encode(-2^53), json.encode(2^63))'
check "numbers: integers stay integers, doubles round-trip" 0 \
    '3	-7	0.1	0.3333333333333333	1e+300	9007199254740992	-9007199254740992	9.223372036854776e+18' ""

run "$SLUA" 'print(json.encode(true), json.encode(false), json.encode(nil), json.encode(json.null))'
check "booleans, nil and json.null" 0 'true	false	null	null' ""

dec '3'
check "a bare number" 0 "number	3" ""
dec '"x"'
check "a bare string" 0 "string	x" ""
dec 'true'
check "a bare true" 0 "boolean	true" ""

run "$SLUA" 'local v = json.decode("null")
print(v == json.null, type(json.null), json.decode("[null]")[1] == json.null)'
check "json.null is a light userdata, decoded from null" 0 "true	userdata	true" ""

run "$SLUA" 'local t = json.decode([[{"a":null}]]) print(t.a == json.null, json.encode(t))'
check "null in an object stays a key" 0 'true	{"a":null}' ""

dec '9007199254740993'
check "2^53 + 1 rounds to the nearest double" 0 "number	9.007199254741e+15" ""

run "$SLUA" 'print(string.format("%.0f", json.decode("9007199254740993")),
    json.encode(json.decode("9007199254740993")), json.encode(json.decode("-42")))'
check "integers up to 2^53 come back exactly" 0 \
    "9007199254740992	9007199254740992	-42" ""

run "$SLUA" 'print(json.decode("12345678901234567890"), json.decode("-12345678901234567890"),
    json.decode("123456789012345678901234567890"))'
check "integers beyond 64 bits become the nearest double" 0 \
    "1.2345678901235e+19	-1.2345678901235e+19	1.2345678901235e+29" ""

dec '1e400'
check "1e400 is out of range" 0 "nil	json.decode: number out of range at position 1" ""
dec '[0, -1e400]'
check "-1e400 is out of range" 0 "nil	json.decode: number out of range at position 5" ""
dec '1e-400'
check "1e-400 underflows to 0" 0 "number	0" ""
dec '[1E2, -0.5e-1, 0]'
check "exponents" 0 "[100,-0.05,0]" ""

# Strings.
run "$SLUA" 'print(json.encode("a\0b\1\31\"\\/\b\f\n\r\t\127é€😀"))'
check "encode escapes control characters, passes UTF-8 through" 0 \
    '"a\u0000b\u0001\u001f\"\\/\b\f\n\r\t'$'\x7f''é€😀"' ""

run "$SLUA" 'local s = json.decode([["\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000"]])
print(s == "\"\\/\b\f\n\r\tAé€😀\0", #s)'
check "decode every escape" 0 "true	19" ""

run "$SLUA" 'local s = "" for i = 0, 127 do s = s .. string.char(i) end
s = s .. "é\0€" print(json.decode(json.encode(s)) == s)'
check "binary-safe round trip of ASCII and UTF-8" 0 "true" ""

dec '"\ud800"'
check "a lone high surrogate becomes U+FFFD" 0 "string	�" ""
dec '"\udc00x"'
check "a lone low surrogate becomes U+FFFD" 0 "string	�x" ""

run "$SLUA" 'print(json.decode("\"\255\""))'
check "decode: invalid UTF-8" 0 "nil	json.decode: invalid UTF-8 at position 2" ""
run "$SLUA" 'print(json.decode("[\"ok\", \"\237\160\128\"]"))'
check "decode: an encoded surrogate is invalid UTF-8" 0 \
    "nil	json.decode: invalid UTF-8 at position 9" ""
run "$SLUA" 'print(json.decode("\"\192\128\""))'
check "decode: an overlong sequence is invalid UTF-8" 0 \
    "nil	json.decode: invalid UTF-8 at position 2" ""
run "$SLUA" 'print(json.encode({a = {"x", "\255"}}))'
check "encode: invalid UTF-8 names the place" 0 \
    "nil	json.encode: invalid UTF-8 in string at .a[2]" ""
run "$SLUA" 'print(json.encode({["\255"] = 1}))'
check "encode: invalid UTF-8 in a key" 0 "nil	json.encode: invalid UTF-8 in key" ""

dec '["a	b"]'
check "decode: a raw tab in a string" 0 \
    "nil	json.decode: control character in string at position 4" ""
dec '{"a\u0000b":1}'
check "decode: a key with \\u0000" 0 \
    "nil	json.decode: object key contains \\u0000 at position 2" ""
run "$SLUA" 'local s = json.decode([["a\u0000b"]]) print(#s, s:byte(1, -1))'
check "decode: a value with \\u0000 is fine" 0 "3	97	0	98" ""
dec '"\x41"'
check "decode: a bad escape" 0 "nil	json.decode: invalid string sequence at position 3" ""

# Malformed input.
dec ''
check "empty input" 0 "nil	json.decode: unexpected end of data at position 1" ""
dec '   '
check "only whitespace" 0 "nil	json.decode: unexpected end of data at position 4" ""
dec '[1,2'
check "truncated array" 0 "nil	json.decode: unexpected end of data at position 5" ""
dec '{"a":'
check "truncated object" 0 "nil	json.decode: unexpected end of data at position 6" ""
dec '"abc'
check "truncated string" 0 "nil	json.decode: unexpected end of data at position 5" ""
dec 'tru'
check "truncated literal" 0 "nil	json.decode: unexpected end of data at position 4" ""
dec '[1,2] x'
check "trailing garbage" 0 "nil	json.decode: unexpected character at position 7" ""
dec '[1]]'
check "a trailing bracket" 0 "nil	json.decode: unexpected character at position 4" ""
dec '1 2'
check "two values" 0 "nil	json.decode: unexpected character at position 3" ""
run "$SLUA" 'print(json.decode("[1]\0"))'
check "a trailing NUL byte" 0 "nil	json.decode: unexpected character at position 4" ""
dec '[1,]'
check "a trailing comma" 0 "nil	json.decode: unexpected character at position 4" ""
dec '[1 2]'
check "a missing comma" 0 \
    "nil	json.decode: array value separator ',' expected at position 4" ""
dec '{"a" 1}'
check "a missing colon" 0 \
    "nil	json.decode: object property name separator ':' expected at position 6" ""
dec '{a:1}'
check "an unquoted key" 0 \
    "nil	json.decode: unexpected character at position 2" ""
dec "{'a':1}"
check "single quotes" 0 "nil	json.decode: unexpected character at position 2" ""
dec '[NaN]'
check "NaN is not JSON" 0 "nil	json.decode: unexpected character at position 2" ""
dec '-Infinity'
check "-Infinity is not JSON" 0 "nil	json.decode: invalid number at position 1" ""
dec '[-01]'
check "a leading zero" 0 "nil	json.decode: invalid number at position 2" ""
dec '2.'
check "a trailing dot" 0 "nil	json.decode: invalid number at position 1" ""
dec '.5'
check "a leading dot" 0 "nil	json.decode: unexpected character at position 1" ""
dec '+1'
check "a plus sign" 0 "nil	json.decode: unexpected character at position 1" ""
dec 'TRUE'
check "literals are lower case" 0 "nil	json.decode: unexpected character at position 1" ""
dec '/* c */ 1'
check "no comments" 0 "nil	json.decode: unexpected character at position 1" ""

run "$SLUA" 'print(json.decode(string.rep("[", 512) .. string.rep("]", 512)) ~= nil)'
check "512 levels of nesting decode" 0 "true" ""
run "$SLUA" 'print(json.decode(string.rep("[", 513) .. string.rep("]", 513)))'
check "513 levels are an error" 0 \
    "nil	json.decode: nesting deeper than 512 at position 513" ""
run "$SLUA" 'print(json.decode(string.rep("{\"a\":", 100000)))'
check "very deep input is an error, not a crash" 0 \
    "nil	json.decode: nesting deeper than 512 at position 2561" ""

# What cannot be encoded.
run "$SLUA" 'print(json.encode({a = {b = {1, print}}}))'
check "a function names its place" 0 \
    "nil	json.encode: cannot encode function at .a.b[2]" ""
run "$SLUA" 'print(json.encode(print))'
check "a function at the top" 0 "nil	json.encode: cannot encode function" ""
run "$SLUA" 'print(json.encode({io.stdout}))'
check "userdata" 0 "nil	json.encode: cannot encode userdata at [1]" ""
run "$SLUA" 'print(json.encode({x = coroutine.create(function() end)}))'
check "a thread" 0 "nil	json.encode: cannot encode thread at .x" ""
run "$SLUA" 'local t = {} t.a = {b = t} print(json.encode(t))'
check "a cycle" 0 "nil	json.encode: cannot encode cycle at .a.b" ""
run "$SLUA" 'local t = {} t[1] = t print(json.encode({t}))'
check "a table holding itself" 0 "nil	json.encode: cannot encode cycle at [1][1]" ""
run "$SLUA" 'local s = {1} print(json.encode({s, s, {s}}))'
check "a shared table is not a cycle" 0 "[[1],[1],[[1]]]" ""
run "$SLUA" 'print(json.encode({["a b"] = {x = 0/0}}))'
check "NaN" 0 'nil	json.encode: cannot encode NaN at ["a b"].x' ""
run "$SLUA" 'print(json.encode({1/0}))'
check "infinity" 0 "nil	json.encode: cannot encode infinity at [1]" ""
run "$SLUA" 'print(json.encode(-1/0))'
check "-infinity" 0 "nil	json.encode: cannot encode -infinity" ""

run "$SLUA" 'local t = {} for i = 1, 511 do t = {t} end
print(#json.encode(t)) print(json.encode({t}))'
check "encode nests 512 deep, not 513" 0 "1024
nil	json.encode: nesting deeper than 512" ""

run "$SLUA" 'local t = {} for i = 1, 100000 do t = {t} end print(json.encode(t))'
check "very deep tables are an error, not a crash" 0 \
    "nil	json.encode: nesting deeper than 512" ""

# Round trips.
run "$SLUA" 'local t = {n = 1.5, s = "x\0y", a = {1, {2, {3}}}, o = {k = json.null}, e = {}, b = false}
local j = json.encode(t) print(j) print(json.encode(json.decode(j)) == j)'
check "round trip" 0 '{"a":[1,[2,[3]]],"b":false,"e":{},"n":1.5,"o":{"k":null},"s":"x\u0000y"}
true' ""

run "$SLUA" 'local t = {} for i = 1, 10000 do t[i] = {id = i, name = "n" .. i} end
local d = json.decode(json.encode(t)) print(#d, d[10000].name, d[1].id)'
check "a large array" 0 "10000	n10000	1" ""

# Argument errors are Lua errors.
run "$SLUA" 'json.encode()'
check "encode without a value" 1 ""
is "$(head -1 "$T/err")" "slua: (command line):1: bad argument #1 to 'encode' (value expected)" \
    "encode argument error"
run "$SLUA" 'json.decode({})'
check "decode of a table" 1 ""
is "$(head -1 "$T/err")" "slua: (command line):1: bad argument #1 to 'decode' (string expected, got table)" \
    "decode argument error"

run "$SLUA" 'print(package.loaded.json == json, require("json") == json)'
check "require 'json' gives the library" 0 "true	true" ""

done_testing
