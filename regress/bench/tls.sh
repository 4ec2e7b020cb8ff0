#!/usr/bin/env bash
# make bench-tls: full TLS handshakes a second, slua beside nginx on the
# same certificate (ECDSA P-256, then RSA 2048), both answering an HTTP/1.0
# GET.  The client is openssl s_time -new (a full handshake per
# connection), CLIENTS of them at once, for SECS seconds; the runs
# alternate (the order flips every repetition) and the figures are
# medians.  A benchmark: it prints figures, it fails only when it cannot
# measure.
#
#   SLUA=build/lua5.1/slua bash regress/bench/tls.sh
#
# slua runs with its defaults (-H twice the CPUs), nginx with one worker
# per CPU (its "auto"), its default TLS settings, no access log.  Both
# negotiate TLS 1.3 with s_time's defaults, so the same suite and group.

set -u
: "${SLUA:?SLUA must name the slua binary}"
REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECS:-5}
CLIENTS=${BENCH_CLIENTS:-$(nproc)}
DIR=$(cd "$(dirname "$0")" && pwd)
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
		timeout 600 "$SLUA" -p "$port" -l 127.0.0.1 \
		    --tls-cert "$T/$2.pem" --tls-key "$T/$2.key" \
		    "$DIR/../../conf/examples/http-handler.lua" 2> "$T/slua.log" &
		spid=$!
	else
		mkdir -p "$T/nginx"
		cat > "$T/nginx.conf" <<EOF
worker_processes auto;
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
		ssl_certificate $T/$2.pem;
		ssl_certificate_key $T/$2.key;
		location / { default_type text/plain; return 200 "hello \$uri\n"; }
	}
}
EOF
		timeout 600 "$NGINX" -p "$T/nginx" -c "$T/nginx.conf" 2> "$T/nginx.log" &
		spid=$!
	fi
	live="$live $spid"
	wait_port "$port"
}

stop() {
	kill -TERM "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
}

# CLIENTS s_time clients at once; prints handshakes a second, all summed.
measure() {
	local i t0 t1 n=0 c pids=""
	t0=$(date +%s%N)
	for i in $(seq "$CLIENTS"); do
		timeout $((SECS + 30)) openssl s_time -connect "127.0.0.1:$port" \
		    -new -time "$SECS" -www / > "$T/st.$i" 2>&1 &
		pids="$pids $!"
	done
	wait $pids
	t1=$(date +%s%N)
	for i in $(seq "$CLIENTS"); do
		c=$(sed -n 's/^\([0-9]*\) connections in [0-9.]* real seconds.*/\1/p' "$T/st.$i" | tail -1)
		n=$((n + ${c:-0}))
	done
	echo $((n * 1000000000 / (t1 - t0)))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '| certificate | slua hs/s | nginx hs/s | ratio |\n|---|--:|--:|--:|\n'
for key in ecdsa rsa; do
	: > "$T/slua.$key"; : > "$T/nginx.$key"
	for r in $(seq "$REPS"); do
		order="slua nginx"
		[ $((r % 2)) = 0 ] && order="nginx slua"
		for srv in $order; do
			start "$srv" "$key" || exit 1
			measure >> "$T/$srv.$key"
			stop
		done
	done
	s=$(median < "$T/slua.$key")
	n=$(median < "$T/nginx.$key")
	printf '| %s | %d | %d | %s |\n' "$key" "$s" "$n" \
	    "$(awk -v s="$s" -v n="$n" 'BEGIN { printf "%.2f", n ? s / n : 0 }')"
	echo "  samples: slua $(tr '\n' ' ' < "$T/slua.$key")/ nginx $(tr '\n' ' ' < "$T/nginx.$key")" >&2
done
