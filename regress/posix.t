# io.ls, io.stat and os.usleep.
. "$(dirname "$0")/lib.sh"
plan 48

mkdir "$T/d" "$T/d/dir" "$T/empty"
for f in b a C .hidden é 10 9; do : > "$T/d/$f"; done

run "$SLUA" "print(table.concat(io.ls('$T/d'), ' '))"
check "io.ls: sorted by bytes, without . and .." 0 ".hidden 10 9 C a b dir é" ""

run "$SLUA" "local t = io.ls('$T/empty') print(type(t), #t)"
check "io.ls: an empty directory" 0 "table	0" ""

run "$SLUA" "print(io.ls('$T/missing'))"
check "io.ls: a missing directory" 0 "nil	$T/missing: No such file or directory" ""

run "$SLUA" "print(io.ls('$T/d/a'))"
check "io.ls: a file" 0 "nil	$T/d/a: Not a directory" ""

run "$SLUA" 'io.ls()'
check "io.ls: no path is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'ls' (string expected, got no value)" \
    "io.ls argument error"

mkdir "$T/many"
(cd "$T/many" && seq 1 3000 | xargs touch)
run "$SLUA" "local t = io.ls('$T/many') print(#t, t[1], t[2], t[#t])"
check "io.ls: 3000 names" 0 "3000	1	10	999" ""

# io.stat
printf 'hello' > "$T/f"
chmod 644 "$T/f"
chmod 755 "$T/d/dir"
ln -s f "$T/link"
ln -s nowhere "$T/dangling"
fields='for _, k in ipairs{"type", "size", "mode", "perm", "nlink", "target"} do
	io.write(k, "=", tostring(st[k]), " ")
end print()'

run "$SLUA" "local st = io.stat('$T/f') $fields"
check "io.stat: a file" 0 "type=file size=5 mode=-rw-r--r-- perm=420 nlink=1 target=nil " ""

run "$SLUA" "local st = io.stat('$T/d/dir') $fields"
check "io.stat: a directory" 0 "type=directory size=$(stat -c %s "$T/d/dir") mode=drwxr-xr-x perm=493 nlink=2 target=nil " ""

run "$SLUA" "local st = io.stat('$T/link') $fields"
check "io.stat: a symbolic link, not what it points to" 0 \
    "type=link size=1 mode=lrwxrwxrwx perm=511 nlink=1 target=f " ""

run "$SLUA" "print(io.stat('$T/dangling').target)"
check "io.stat: a dangling link" 0 "nowhere" ""

run "$SLUA" "local st = io.stat('/dev/null') print(st.type, st.mode)"
check "io.stat: a character device" 0 "char	crw-rw-rw-" ""

mkfifo "$T/fifo"
chmod 600 "$T/fifo"
run "$SLUA" "local st = io.stat('$T/fifo') print(st.type, st.mode)"
check "io.stat: a fifo" 0 "fifo	prw-------" ""

st_id() { stat -c "$1" "$T/f"; }
run "$SLUA" "local st = io.stat('$T/f')
print(st.uid, st.gid, st.user, st.group, st.atime, st.mtime, st.ctime)"
check "io.stat: owner and times" 0 "$(st_id %u)	$(st_id %g)	$(st_id %U)	$(st_id %G)	$(st_id %X)	$(st_id %Y)	$(st_id %Z)" ""

if [ "$(id -u)" -eq 0 ]; then
	chown 54321:54322 "$T/f"
	run "$SLUA" "local st = io.stat('$T/f') print(st.uid, st.user, st.gid, st.group)"
	check "io.stat: ids without names are numbers as strings" 0 \
	    "54321	54321	54322	54322" ""
else
	skip "io.stat: ids without names are numbers as strings" "needs root"
fi

for m in 4755:-rwsr-xr-x 4644:-rwSr--r-- 2755:-rwxr-sr-x 2745:-rwxr-Sr-x \
    1777:-rwxrwxrwt 1776:-rwxrwxrwT 0000:----------; do
	chmod "${m%%:*}" "$T/f"
	run "$SLUA" "local st = io.stat('$T/f') print(st.mode, string.format('%o', st.perm))"
	check "io.stat: mode ${m%%:*}" 0 "${m#*:}	$(echo "${m%%:*}" | sed 's/^0*//; s/^$/0/')" ""
done

run "$SLUA" "print(io.stat('$T/missing'))"
check "io.stat: a missing path" 0 "nil	$T/missing: No such file or directory" ""

run "$SLUA" "print(io.stat('$T/f/x'))"
check "io.stat: through a file" 0 "nil	$T/f/x: Not a directory" ""

run "$SLUA" 'io.stat("a\0b")'
check "io.stat: a NUL byte in the path" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'stat' (path contains a NUL byte)" \
    "io.stat NUL argument error"

run "$SLUA" 'io.stat(nil)'
check "io.stat: nil is an argument error" 1 ""
is "$(head -1 "$T/err")" \
    "slua: (command line):1: bad argument #1 to 'stat' (string expected, got nil)" \
    "io.stat argument error"

# os.usleep
ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(ms)
run "$SLUA" 'os.usleep(300000) print("woke")'
elapsed=$(($(ms) - start))
check "os.usleep: returns" 0 "woke" ""
ok "os.usleep(300000) takes 0.3 s (took ${elapsed} ms)" \
    '[ "$elapsed" -ge 300 ] && [ "$elapsed" -lt 3000 ]'

run "$SLUA" 'os.usleep(0) os.usleep(1.5) os.usleep("10") print(select("#", os.usleep(1)))'
check "os.usleep: zero, fractions, numeric strings; no results" 0 "0" ""

# SIGINT sets a hook and interrupts nanosleep: the sleep goes on for the
# rest of its time, then the hook stops the script.
start=$(ms)
"$SLUA" 'os.usleep(600000) print("not reached")' > "$T/out" 2> "$T/err" &
pid=$!
# In the sleep (nanosleep or clock_nanosleep, x86_64's numbers) before the signal.
wait_for 5 "grep -qE '^(35|230) ' /proc/$pid/syscall 2>/dev/null"
kill -INT "$pid"
wait "$pid"
rc=$?
elapsed=$(($(ms) - start))
check "os.usleep: a signal does not cut the sleep short" 1 ""
ok "the whole 0.6 s was slept (${elapsed} ms)" '[ "$elapsed" -ge 600 ]'
like "$(head -1 "$T/err")" "^slua: .*interrupted!$" "then the interrupt"

for a in '-1:negative duration' '-0.5:negative duration' \
    '0/0:duration out of range' '1e16:duration out of range' \
    '"x":number expected, got string' ':number expected, got no value' \
    '{}:number expected, got table'; do
	run "$SLUA" "os.usleep(${a%%:*})"
	check "os.usleep(${a%%:*}) is an argument error" 1 ""
	is "$(head -1 "$T/err")" \
	    "slua: (command line):1: bad argument #1 to 'usleep' (${a#*:})" \
	    "os.usleep(${a%%:*}) message"
done

done_testing
