# string.md5, sha1, sha256, sha512: known answers.
. "$(dirname "$0")/lib.sh"
plan 9

run "$SLUA" 'print(string.md5(""))
print(string.sha1(""))
print(string.sha256(""))
print(string.sha512(""))'
check "the empty string" 0 "d41d8cd98f00b204e9800998ecf8427e
da39a3ee5e6b4b0d3255bfef95601890afd80709
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e" ""

run "$SLUA" 'print(string.md5("abc"))
print(string.sha1("abc"))
print(string.sha256("abc"))
print(string.sha512("abc"))'
check "abc" 0 "900150983cd24fb0d6963f7d28e17f72
a9993e364706816aba3e25717850c26c9cd0d89d
ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" ""

run "$SLUA" 'local s = string.rep("a", 1000000)
print(s:md5()) print(s:sha1()) print(s:sha256()) print(s:sha512())'
check "a million a's, as methods" 0 "7707d6ae4e027c70eea2a935c2296f21
34aa973cd4c4daa4f61eeb2bdbad27316534016f
cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0
e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b" ""

# NUL bytes count: compare with coreutils on the same bytes.
expect=""
for sum in md5sum sha1sum sha256sum sha512sum; do
	expect="$expect$(printf 'a\0b\0\0c\377' | $sum | cut -d' ' -f1)
"
done
run "$SLUA" 'local s = "a\0b\0\0c\255"
print(string.md5(s)) print(string.sha1(s)) print(string.sha256(s)) print(string.sha512(s))'
check "NUL bytes are data" 0 "${expect%?}" ""

run "$SLUA" 'print(string.md5("a\0b") ~= string.md5("a"), #string.sha256("x"), string.sha1(42) == string.sha1("42"))'
check "lengths, and numbers as strings" 0 "true	64	true" ""

run "$SLUA" 'string.sha256(nil)'
check "nil is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'sha256' (string expected, got nil)" \
    "the argument error, as SPEC words it"

run "$SLUA" 'string.md5({})'
check "a table is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'md5' (string expected, got table)" \
    "md5 argument error"

done_testing
