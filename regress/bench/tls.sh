#!/usr/bin/env bash
# make bench-tls: full TLS handshakes, slua beside nginx on the same
# certificate (ECDSA P-256, then RSA 2048), both answering an HTTP/1.0 GET.
# The client is openssl s_time -new (a full handshake per connection),
# CLIENTS of them at once for SECS seconds; the runs alternate (the order
# flips every repetition) and the figures are medians.  A benchmark: it
# prints figures, and fails only when it cannot measure.
#
#   SLUA=build/lua5.1/slua bash regress/bench/tls.sh
#
# Two figures per server: handshakes a second of wall time, and handshakes
# per second of the server's CPU time (user and system, all its processes,
# from /proc).  The second is what a machine with other work on it still
# measures fairly: there the scheduler shares the CPU by process, and wall
# time says more about the neighbours than about the server.  Each
# certificate is measured with TLS 1.3 and with TLS 1.2 (s_time -tls1_2).
# slua runs with its defaults (-H twice the CPUs) and nginx with as many
# workers, no access log and its default TLS settings but for
# ssl_protocols TLSv1.2 TLSv1.3 (Debian 12's nginx 1.22 leaves TLS 1.3 out
# by default); both get X25519 and an AES-GCM suite.

set -u
: "${SLUA:?SLUA must name the slua binary}"
REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECS:-5}
CLIENTS=${BENCH_CLIENTS:-$(nproc)}
DIR=$(cd "$(dirname "$0")" && pwd)
HZ=$(getconf CLK_TCK)
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

for tool in openssl "$NGINX" timeout; do
	if ! command -v "$tool" > /dev/null; then
		echo "bench-tls: $tool is not installed (apt-get install nginx)" >&2
		exit 111
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/slua-bench-tls.XXXXXX")
live=""
cleanup() {
	for p in $live; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in $live; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		if ! grep -q ":$(printf '%04X' "$p") " /proc/net/tcp; then
			echo "$p"; return
		fi
	done
}

wait_port() {
	for _ in $(seq 250); do
		(exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.02
	done
	echo "bench-tls: nothing listens on $1" >&2
	return 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/ecdsa.key" -out "$T/ecdsa.pem" -days 2 -subj /CN=bench 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa.key" \
    -out "$T/rsa.pem" -days 2 -subj /CN=bench 2>/dev/null

# Start a server: $1 slua or nginx, $2 the key type; its pid in $spid.
start() {
	port=$(free_port)
	if [ "$1" = slua ]; then
		setsid timeout 600 "$SLUA" -p "$port" -l 127.0.0.1 \
		    --tls-cert "$T/$2.pem" --tls-key "$T/$2.key" \
		    "$DIR/../../conf/examples/http-handler.lua" 2> "$T/slua.log" &
		spid=$!
	else
		mkdir -p "$T/nginx"
		cat > "$T/nginx.conf" <<EOF
worker_processes $((2 * $(nproc)));
pid $T/nginx.pid;
error_log $T/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/nginx; proxy_temp_path $T/nginx;
	fastcgi_temp_path $T/nginx; uwsgi_temp_path $T/nginx;
	scgi_temp_path $T/nginx;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_certificate $T/$2.pem;
		ssl_certificate_key $T/$2.key;
		location / { default_type text/plain; return 200 "hello \$uri\n"; }
	}
}
EOF
		setsid timeout 600 "$NGINX" -p "$T/nginx" -c "$T/nginx.conf" 2> "$T/nginx.log" &
		spid=$!
	fi
	live="$live $spid"
	wait_port "$port"
}

stop() {
	kill -TERM "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
}

# CPU ticks (user and system) of the processes of session $1.
ticks() {
	local p n=0 f
	for p in $(ps -o pid= -s "$1"); do
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		n=$((n + ${12} + ${13}))
	done
	echo "$n"
}

# CLIENTS s_time clients at once, speaking $1; prints handshakes a second
# of wall time and a second of the server's CPU time, all clients summed.
measure() {
	local i t0 t1 c0 c1 n=0 c pids=""
	c0=$(ticks "$spid")
	t0=$(date +%s%N)
	for i in $(seq "$CLIENTS"); do
		timeout $((SECS + 30)) openssl s_time -connect "127.0.0.1:$port" \
		    -"$1" -new -time "$SECS" -www / > "$T/st.$i" 2>&1 &
		pids="$pids $!"
	done
	wait $pids
	t1=$(date +%s%N)
	c1=$(ticks "$spid")
	for i in $(seq "$CLIENTS"); do
		c=$(sed -n 's/^\([0-9]*\) connections in [0-9.]* real seconds.*/\1/p' "$T/st.$i" | tail -1)
		n=$((n + ${c:-0}))
	done
	echo "$((n * 1000000000 / (t1 - t0))) $((n * HZ / (c1 - c0 > 0 ? c1 - c0 : 1)))"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '| certificate | protocol | figure | slua | nginx | ratio |\n'
printf '|---|---|---|--:|--:|--:|\n'
row() {	# run figure column
	s=$(cut -d' ' -f"$3" "$T/slua.$1" | median)
	n=$(cut -d' ' -f"$3" "$T/nginx.$1" | median)
	printf '| %s | %s | %s | %d | %d | %s |\n' "${1%.*}" "${1#*.}" "$2" \
	    "$s" "$n" \
	    "$(awk -v s="$s" -v n="$n" 'BEGIN { printf "%.2f", n ? s / n : 0 }')"
}
for key in ecdsa rsa; do
	for proto in tls1_3 tls1_2; do
		run=$key.$proto
		: > "$T/slua.$run"; : > "$T/nginx.$run"
		for r in $(seq "$REPS"); do
			order="slua nginx"
			[ $((r % 2)) = 0 ] && order="nginx slua"
			for srv in $order; do
				start "$srv" "$key" || exit 1
				measure "$proto" >> "$T/$srv.$run"
				stop
			done
		done
		row "$run" "handshakes/s" 1
		row "$run" "handshakes/CPU s" 2
		echo "  $run samples (wall CPU): slua" \
		    "$(tr '\n' ' ' < "$T/slua.$run")/ nginx" \
		    "$(tr '\n' ' ' < "$T/nginx.$run")" >&2
	done
done
