# TLS policy: the suites slua accepts and in whose order, the settings that
# change them, session resumption across handler processes, RSA and ECDSA
# certificates.  (tcp.t has the rest: curl, a refused TLS 1.1, garbage.)
. "$(dirname "$0")/lib.sh"
plan 57

port=$(free_port)

# Self-signed: s_client reports a failed verification and goes on.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa.key" \
    -out "$T/rsa.pem" -days 2 -subj /CN=rsa.slua.test 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/ec.key" -out "$T/ec.pem" -days 2 -subj /CN=ec.slua.test 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/ec2.key" -out "$T/ec2.pem" -days 2 -subj /CN=ec2.slua.test 2>/dev/null
RSA="--tls-cert $T/rsa.pem --tls-key $T/rsa.key"
EC="--tls-cert $T/ec.pem --tls-key $T/ec.key"

# Each connection is told which handler process served it.
PID='local f = io.open("/proc/self/stat") print("pid " .. f:read("*n")) f:close()'

# One connection with openssl s_client (-ign_eof: it reads until the
# server closes, so a TLS 1.3 session has its ticket).  Its summary,
# "New, TLSv1.2, Cipher is ..." or "Reused, ...", is in $hs, the serving
# handler in $hpid, the certificate's subject in $subj; the whole output is
# in $T/s.
hello() {
	timeout 10 openssl s_client -ign_eof -connect "127.0.0.1:$port" "$@" \
	    < /dev/null > "$T/s" 2>&1
	hs=$(grep -E '^(New|Reused), ' "$T/s" | head -1)
	hpid=$(sed -n 's/^pid //p' "$T/s")
	subj=$(sed -n 's/^subject=CN = //p' "$T/s")
}
REFUSED="New, (NONE), Cipher is (NONE)"
gone() { for p in "$@"; do ! alive "$p" || return 1; done; }

# The defaults, with an RSA certificate.
start_slua -H 2 $RSA "$PID"
hello -tls1_2 -cipher AES128-SHA256
is "$hs" "$REFUSED" "RSA key exchange (AES128-SHA256) is refused"
hello -tls1_2 -cipher AES256-GCM-SHA384
is "$hs" "$REFUSED" "RSA key exchange with AES-GCM (AES256-GCM-SHA384) is refused"
hello -tls1_2 -cipher ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA
is "$hs" "$REFUSED" "CBC suites with ECDHE are refused"
hello -tls1_2 -cipher 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0'
is "$hs" "$REFUSED" "finite-field DHE is refused"
like "$(cat "$T/log")" "127\.0\.0\.1:[0-9]+: tls: .*no shared cipher" \
    "a refused suite is logged"
hello -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
is "$hs" "New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256" \
    "ECDHE-RSA-AES128-GCM-SHA256 is accepted"
ok "and the handler answers" '[ -n "$hpid" ]'
hello -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305
is "$hs" "New, TLSv1.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305" \
    "ECDHE-RSA-CHACHA20-POLY1305 is accepted"
hello -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256
is "$hs" "New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256" \
    "TLS 1.2: the server's order wins over the client's"
hello -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384
is "$hs" "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" \
    "TLS 1.3: the server's order wins over the client's"
hello
is "$hs" "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" \
    "a client that asks for nothing gets TLS 1.3"
stop "$srv" "the RSA server stops on TERM"

# Against both certificates at once, the six ECDHE AEAD suites are each
# accepted; every other TLS 1.2 suite this OpenSSL knows, offered all at
# once, is refused: had the server accepted one, it would have chosen it.
SIX="ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305"
start_slua -H 2 $RSA $EC "$PID"
accepted=$(for c in $SIX; do
	hello -tls1_2 -cipher "$c"
	echo "${hs##* }"
done | tr '\n' ' ')
is "$accepted" "$SIX " "each ECDHE AEAD suite is accepted"
others=$(openssl ciphers -tls1_2 -s 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' |
    tr ':' '\n' | grep -v '^TLS_' | grep -vxF "$(echo "$SIX" | tr ' ' '\n')" |
    tr '\n' ':')
hello -tls1_2 -cipher "${others}@SECLEVEL=0"
ok "every other TLS 1.2 suite is refused ($(echo "$others" | tr -cd : | wc -c) offered)" \
    '[ "$hs" = "$REFUSED" ] && [ "$(echo "$others" | tr -cd : | wc -c)" -gt 50 ]'

# Both certificates: each client gets the one it can check, ECDSA first.
hello
is "$subj|$hs" "ec.slua.test|New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" \
    "two certificates: a TLS 1.3 client gets the ECDSA one"
hello -sigalgs RSA-PSS+SHA256:RSA+SHA256
is "$subj" "rsa.slua.test" "a TLS 1.3 client that checks only RSA gets the RSA one"
hello -tls1_2
is "$subj|$hs" "ec.slua.test|New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" \
    "a TLS 1.2 client gets the ECDSA one"
hello -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384
is "$subj|$hs" "rsa.slua.test|New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384" \
    "a TLS 1.2 client that offers only ECDHE-RSA gets the RSA one"
stop "$srv" "the two-certificate server stops on TERM"

# An ECDSA certificate alone.
start_slua -H 1 $EC "$PID"
hello -tls1_2
is "$subj|$hs" "ec.slua.test|New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" \
    "an ECDSA certificate is served over TLS 1.2"
hello
ok "and over TLS 1.3, signed with ECDSA" \
    '[ "$subj" = ec.slua.test ] && grep -q "^Peer signature type: ECDSA$" "$T/s"'
hello -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
is "$hs" "$REFUSED" "an RSA suite cannot be served with an ECDSA certificate"
# Resumption is by ticket only: with no per-process cache, a session ID
# resumes nothing, even in the one handler that made it.
hello -tls1_2 -no_ticket -reconnect
ok "a client without tickets is not resumed, even by the same handler" \
    '[ "$(grep -c "^New, TLSv1.2" "$T/s")" = 6 ] && [ "$(grep -c "^Reused" "$T/s")" = 0 ]'
stop "$srv" "the ECDSA server stops on TERM"

# Resumption: each handler serves one connection (--max-requests 1), so
# every connection is a new process; the tickets of one open in the next.
cat > "$T/tls.conf" <<EOF
tls_cert = { "$T/rsa.pem", "$T/ec.pem" }
tls_key = { "$T/rsa.key", "$T/ec.key" }
EOF
start_slua -H 4 --max-requests 1 -f "$T/tls.conf" "$PID"
hello -tls1_2 -reconnect
ok "s_client -reconnect: TLS 1.2 sessions resume, in other handlers" \
    '[ "$(grep -c "^New, TLSv1.2" "$T/s")" = 1 ] && [ "$(grep -c "^Reused, TLSv1.2" "$T/s")" = 5 ]'
rm -f "$T/s12" "$T/s13"
hello -tls1_2 -sess_out "$T/s12"
first=$hpid
hello -tls1_2 -sess_in "$T/s12"
ok "a TLS 1.2 session saved by one handler resumes in another" \
    '[ "${hs%%,*}" = Reused ] && [ -n "$first" ] && [ -n "$hpid" ] && [ "$hpid" != "$first" ]'
hello -tls1_3 -sess_out "$T/s13"
first=$hpid
hello -tls1_3 -sess_in "$T/s13"
ok "a TLS 1.3 session saved by one handler resumes in another" \
    '[ "${hs%%,*}" = Reused ] && [ -n "$first" ] && [ -n "$hpid" ] && [ "$hpid" != "$first" ]'
is "$hs" "Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" "the resumed session's suite"

# A reload with a bad setting keeps the running generation and its keys.
old=$(procs "$srv" handler | tr "\n" " ")
echo 'tls_ciphers = "ECDHE-RSA-AES128-GCM-SHA256:NO-SUCH-CIPHER"' >> "$T/tls.conf"
kill -HUP "$srv"
ok "a reload with an unknown cipher fails" \
    'wait_for 10 "grep -q \"reload failed\" \"\$T/log\""'
like "$(cat "$T/log")" "tls-ciphers: NO-SUCH-CIPHER: no such cipher" "the unknown cipher is named"
hello -tls1_3 -sess_in "$T/s13"
is "${hs%%,*}" Reused "the running generation still resumes its sessions"
# A reload that works: new keys, so no session from before it resumes;
# the new policy applies.
sed -i 's/:NO-SUCH-CIPHER//' "$T/tls.conf"
echo 'tls_ciphersuites = "TLS_CHACHA20_POLY1305_SHA256"' >> "$T/tls.conf"
kill -HUP "$srv"
ok "the reload takes" 'wait_for 10 "grep -q \"generation 2 started\" \"\$T/log\""'
ok "the old handlers are gone" 'wait_for 10 "gone $old"'
hello -tls1_3 -sess_in "$T/s13"
is "$hs" "New, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256" \
    "after a reload a TLS 1.3 session from before is not resumed; tls_ciphersuites applies"
hello -tls1_2 -sess_in "$T/s12"
is "$hs" "New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256" \
    "nor a TLS 1.2 one; tls_ciphers applies"
hello -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
is "$hs" "$REFUSED" "a suite tls_ciphers leaves out is refused"
hello -tls1_3 -sess_out "$T/s13"
hello -tls1_3 -sess_in "$T/s13"
is "${hs%%,*}" Reused "sessions of the new generation resume"
stop "$srv" "the resuming server stops on TERM"

# The settings on the command line.
start_slua -H 1 $RSA --tls-ciphers ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384 \
    --tls-protocols TLSv1.2 "$PID"
hello -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305
is "$hs" "New, TLSv1.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305" \
    "--tls-ciphers: its order is the server's"
hello
is "$hs" "New, TLSv1.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305" \
    "--tls-protocols TLSv1.2: a client that could speak 1.3 speaks 1.2"
hello -tls1_3
is "$hs" "$REFUSED" "--tls-protocols TLSv1.2: TLS 1.3 is refused"
stop "$srv" "the --tls-ciphers server stops on TERM"
start_slua -H 1 $EC --tls-protocols tlsv1.3 "$PID"
hello -tls1_2
is "$hs" "$REFUSED" "--tls-protocols tlsv1.3: TLS 1.2 is refused"
stop "$srv" "the TLS 1.3 server stops on TERM"

# Bad settings: -n says why, with the start's words, and exits 1.
configtest() { run "$SLUA" -n -p "$port" -l 127.0.0.1 "$@" 'print(1)'; }
configtest $RSA --tls-ciphers 'ECDHE-RSA-AES128-GCM-SHA256:BOGUS:!RC4'
check "-n: an unknown cipher" 1 "" "slua: tls-ciphers: BOGUS: no such cipher"
configtest $RSA --tls-ciphers TLS_AES_128_GCM_SHA256
check "-n: a TLS 1.3 suite in --tls-ciphers" 1 "" \
    "slua: tls-ciphers: TLS_AES_128_GCM_SHA256: a TLS 1.3 suite, for tls-ciphersuites"
configtest $RSA --tls-ciphersuites TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256
check "-n: a TLS 1.2 cipher in --tls-ciphersuites" 1 "" \
    "slua: tls-ciphersuites: ECDHE-RSA-AES128-GCM-SHA256: no such TLS 1.3 cipher suite"
configtest $RSA --tls-ciphersuites ''
check "-n: no TLS 1.3 suite" 1 "" \
    "slua: tls-ciphersuites: empty (tls-protocols TLSv1.2 turns TLS 1.3 off)"
configtest $RSA --tls-protocols TLSv1.3,TLSv1.1
check "-n: TLS 1.1" 1 "" \
    "slua: tls-protocols: TLSv1.1: too old (TLSv1.2 is the oldest slua speaks)"
configtest $RSA --tls-protocols 'TLSv1.3 TLSv2'
check "-n: an unknown protocol" 1 "" "slua: tls-protocols: TLSv2: unknown (TLSv1.2, TLSv1.3)"
configtest --tls-protocols TLSv1.3
check "-n: a TLS setting without a certificate" 1 "" "slua: --tls-protocols needs --tls-cert"
configtest $EC --tls-cert "$T/ec2.pem" --tls-key "$T/ec2.key"
check "-n: two ECDSA certificates" 1 "" \
    "slua: tls-cert $T/ec2.pem: its key is of the type of $T/ec.pem's: give two of different types (RSA and ECDSA)"
configtest $RSA --tls-cert "$T/ec.pem" --tls-key "$T/rsa.key"
check "-n: a key that is not its certificate's" 1 "" \
    "slua: tls-key $T/rsa.key: not the key of $T/ec.pem"
configtest $RSA --tls-cert "$T/ec.pem"
check "-n: a second certificate without its key" 1 "" \
    "slua: two --tls-cert, one --tls-key: give a key for each certificate, in the same order"
configtest $RSA $EC --tls-cert "$T/ec2.pem"
check "a third certificate" 2 "" "slua: tls-cert $T/ec2.pem: at most two"
run "$SLUA" -p "$port" -l 127.0.0.1 $RSA --tls-protocols SSLv3 'print(1)'
check "the start refuses what -n refuses" 1 "" \
    "slua: tls-protocols: SSLv3: too old (TLSv1.2 is the oldest slua speaks)"
cat > "$T/ok.conf" <<EOF
tls_cert = "$T/rsa.pem"
tls_key = "$T/rsa.key"
tls_ciphers = "ECDHE+AESGCM:!aNULL"
tls_ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
tls_protocols = "TLSv1.2, TLSv1.3"
EOF
configtest -f "$T/ok.conf"
check "-n: the settings in a file" 0 "configuration OK"

done_testing
