# string.epoch: strptime to a UNIX timestamp.
. "$(dirname "$0")/lib.sh"
plan 16

run "$SLUA" 'print(string.epoch("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S"))'
check "a date and time, as UTC" 0 "1704164645" ""

run env TZ=America/New_York "$SLUA" 'print(string.epoch("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S"))'
check "UTC whatever TZ says" 0 "1704164645" ""

run "$SLUA" 'print(("2024-01-02"):epoch("%Y-%m-%d"), ("12:30"):epoch("%H:%M"))'
check "fields left out default to 1970-01-01 00:00:00" 0 "1704153600	45000" ""

run "$SLUA" 'print(string.epoch("2024-01-02 03:04:05 +0130", "%Y-%m-%d %H:%M:%S %z"))'
check "%z: a zone east of UTC" 0 "1704159245" ""

run "$SLUA" 'print(string.epoch("2024-01-02T03:04:05-05:00", "%Y-%m-%dT%H:%M:%S%z"))'
check "%z: a zone west of UTC, with a colon" 0 "1704182645" ""

run "$SLUA" 'print(string.epoch("2024-01-02T03:04:05Z", "%Y-%m-%dT%H:%M:%S%z"))'
check "%z: Z is UTC" 0 "1704164645" ""

run env TZ=Europe/Berlin "$SLUA" 'print(string.epoch("1700000000", "%s"))'
check "%s is already a timestamp" 0 "1700000000" ""

run "$SLUA" 'print(string.epoch("1969-12-31 23:59:59", "%Y-%m-%d %H:%M:%S"),
    string.epoch("1900-01-01", "%Y-%m-%d"), string.epoch("9999-12-31", "%Y-%m-%d"))'
check "before 1970, and far ahead" 0 "-1	-2208988800	253402214400" ""

run "$SLUA" 'print(string.epoch("Tue, 02 Jan 2024 03:04:05 GMT", "%a, %d %b %Y %H:%M:%S GMT"))'
check "an HTTP date" 0 "1704164645" ""

run "$SLUA" 'print(string.epoch("nope", "%Y"), select("#", string.epoch("nope", "%Y")))'
check "input that does not match: nil" 0 "nil	1" ""

run "$SLUA" 'print(string.epoch("2024-01-02x", "%Y-%m-%d"), string.epoch("2024 ", "%Y"))'
check "trailing characters: nil" 0 "nil	nil" ""

run "$SLUA" 'print(string.epoch("2024\0", "%Y"), string.epoch("2024-13-01", "%Y-%m-%d"))'
check "a NUL byte, a month out of range: nil" 0 "nil	nil" ""

run "$SLUA" 'string.epoch("2024")'
check "a missing format is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #2 to 'epoch' (string expected, got no value)" \
    "format argument error"

run "$SLUA" 'string.epoch("2024", "%Y\0")'
check "a format with a NUL byte is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #2 to 'epoch' (format contains a NUL byte)" \
    "NUL in the format"

done_testing
