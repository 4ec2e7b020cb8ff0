#!/bin/bash
# The mutation check (make mutate): does the suite notice when slua breaks?
#
# Each mutant below is a small, exact breakage of one source file and the
# test files that should catch it.  For each, this copies the tree (tracked
# and untracked files, as they are now, not HEAD) to a scratch directory in
# $TMPDIR, applies the edits, builds, and runs the named test files against
# the mutant's binary, cheapest first, until one fails:
#
#   KILLED	a test file failed where the unmutated tree passes it
#   SURVIVED	every named file passed: the suite misses this breakage
#   ERROR	an edit matched no place (or several), or the mutant did not
#		build: fix the list, the sources moved
#
# A failure only counts when it is new: the first time a mutant fails a
# file, the unmutated build runs that file too (once), and a test point that
# fails there already (or a file that already times out, leaves processes
# behind or runs another number of points than planned) kills no mutant.
# Ends with "N mutants: K killed, S survived"; exits 1 when one survived or
# the unmutated tree fails its own tests, 2 on an error.
#
#   MUTANTS="a b"	run only these (make mutate MUTANTS=a)
#   MUTATE_LIMIT=120	seconds a test file may take under a mutant
#   MUTATE_BUILD_ONLY=1	only apply and build each, and show its diff: do
#			the patterns still fit?
#   MUTATE_KEEP=1	keep the scratch directory and each run's output
#   LUA=lua5.1		the variant to build (as in the GNUmakefile)
#
# Never part of make test: one mutant is one (incremental) build and a run
# of its test files, the whole list ten to fifteen minutes on two cores.
set -u

names=() files=() tests=() breaks=() edits=()
US=$'\037'	# between the edits of one mutant
mutant() {
	local IFS=$US
	names+=("$1") files+=("$2") tests+=("$3") breaks+=("$4")
	shift 4
	edits+=("$*")
}

# --- The list ---------------------------------------------------------------
#
# mutant NAME FILE "TEST FILES" "what it breaks" EDIT [EDIT...]
#
# Each EDIT is a Perl substitution, s/old/new/ (no /g), on the whole file at
# once (so \n and \t match across lines); it must change exactly one place.
# \Q...\E quotes C's parentheses and stars; in the new text, $ and @ need a
# backslash.  Name the files that should catch the mutant, the quickest or
# likeliest first: a mutant stops at the first file it fails.

mutant pdeathsig common/util.c "stdio.t fault.t" \
	"children do not die with their parent (no PR_SET_PDEATHSIG)" \
	's/\Qprctl(PR_SET_PDEATHSIG, SIGKILL) == -1\E/0/'

mutant max-requests server/handler.c "tcp.t" \
	"--max-requests is ignored: a handler never exits after n connections" \
	's/\Qmax = he->he_cf->cf_max_requests;\E/max = 0;/'

mutant handoff-never server/handoff.c "keepalive.t" \
	"a ready held connection never leaves its busy handler" \
	's/\Qif (sendmsg(handoff_fds[0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != -1)\E/if (0)/'

mutant handoff-bytes server/handoff.c "keepalive.t" \
	"a passed connection goes without the bytes read of it" \
	's/\Qhh.hh_len = len;\E/hh.hh_len = 0;/' \
	's/\Qmsg.msg_iovlen = len > 0 ? 2 : 1;\E/msg.msg_iovlen = 1;/'

mutant handoff-stays server/pending.c "keepalive.t" \
	"a ready connection that cannot be passed is forgotten, not served" \
	's/\Qpend_ready(p);\E\n\}/(void)shutdown(p->p_fd, SHUT_RDWR);\n}/'

mutant handoff-noretry server/pending.c "keepalive.t" \
	"a ready connection no handler could take stays with its busy handler once one is idle" \
	's/\Qp->p_ready ? !p->p_stuck : pend_read(p)\E/p->p_ready ? 0 : pend_read(p)/'

mutant handoff-futile server/handoff.c "keepalive.t" \
	"a busy handler passes its ready connections when no handler is idle" \
	's/\Qif (!handoff_token())\E/if (!handoff_token() && 0)/'

mutant emfile-log server/handler.c "limits.t" \
	"under EMFILE every accept pause is logged, not at most once a second" \
	's/\Qclock_ms(&last, &now) >= 1000\E/1/'

mutant emfile-spin server/handler.c "limits.t" \
	"under EMFILE accept does not pause: the handler spins" \
	's/\Qwhile (nanosleep(&pause, &pause) == -1 && errno == EINTR)\E\n\t+;/(void)pause;/'

mutant handler-timeout server/handler.c "limits.t" \
	"--handler-timeout is never armed" \
	's/\Qtimeout_arm(L, cf->cf_handler_timeout,\E/timeout_arm(L, 0,/'

mutant handler-oneshot server/handler.c "tcp.t limits.t" \
	"a handler exits after every connection (and is replaced)" \
	's/\Qhandler_busy = 0;\E\n\t\t\Qhandler_served++;\E/handler_busy = 0;\n\t\thandler_served++;\n\t\thandler_quit = 1;/'

mutant globals-leak server/handler.c "tcp.t" \
	"a connection's globals are the handler's, seen by the next connection" \
	's/\Qlua_setfenv(L, -2);\E/lua_pop(L, 1);/'

mutant tls-fd-leak server/handler.c "tcp.t limits.t" \
	"after a failed TLS handshake the client's descriptor stays open" \
	's/(tls: %s", handler_peer\(pc\), err\);\n\t+\Qpending_release(pc);\E)\n\t+\Q(void)close(fd);\E/$1/'

# OpenSSL 3 refuses TLS 1.0 and 1.1 at security level 1 and up, whatever
# the minimum version says: the mutant lowers both.  A test needs a client
# that offers TLS 1.1 at level 0 too, or the client refuses, not slua:
# openssl s_client -tls1_1 -cipher DEFAULT@SECLEVEL=0.
mutant tls11 server/tlsctx.c "tcp.t" \
	"TLS 1.0 and 1.1 are accepted (minimum version and security level lowered)" \
	's/\Q#include <stdio.h>\E/#include <dlfcn.h>\n#include <stdio.h>/' \
	's/\QTLS1_2_VERSION\E/TLS1_VERSION/' \
	's/(\t)(\Q\/* A peer that closes\E)/$1((void (*)(SSL_CTX *, int))dlsym(dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD), "SSL_CTX_set_security_level"))(ctx, 0);\n$1$2/'

mutant tls-client-order server/tlsctx.c "tls.t" \
	"the client's order of suites wins, not the server's" \
	's/\QSSL_OP_CIPHER_SERVER_PREFERENCE |\E/0 |/'

mutant tls-cbc server/tlsctx.c "tls.t" \
	"the default suites include RSA key exchange and CBC" \
	's/\Q"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"\E/"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:AES128-SHA256:ECDHE-RSA-AES128-SHA"/'

mutant tls-handler-keys server/tls.c "tls.t" \
	"each handler seals session tickets with keys of its own" \
	's/(\t\Qif ((ssl = SSL_new(ctx)) == NULL\E)/\t{ static int once; unsigned char k[80]; if (!once++ && RAND_priv_bytes(k, 80) == 1) SSL_CTX_set_tlsext_ticket_keys(ctx, k, 80); }\n$1/'

mutant tls-fixed-keys server/tlsctx.c "tls.t" \
	"ticket keys are the same in every generation: a reload does not change them" \
	's/\QRAND_priv_bytes(keys, sizeof(keys)) != 1\E/(memset(keys, 7, sizeof(keys)), 0)/'

mutant tls-session-cache server/tlsctx.c "tls.t" \
	"each handler keeps a session cache, and resumes session IDs it made" \
	's/\Q(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);\E//'

mutant tls-same-type server/tlsctx.c "tls.t" \
	"a second certificate of the first one's key type silently replaces it" \
	's/\Qif (n < 2) {\E/if (0) {/'

mutant tls-names-unchecked server/tlsctx.c "tls.t" \
	"a cipher name OpenSSL does not know is skipped when another one matches" \
	's/\Qif (set(ctx, name) == 1)\E/if (1)/'

mutant tls-no-min server/tlsctx.c "tls.t" \
	"tls-protocols sets no minimum version" \
	's/\Q!SSL_CTX_set_min_proto_version(ctx, min) ||\E//'

mutant sup-exit-status server/supervisor.c "tcp.t" \
	"the supervisor exits 1 after TERM" \
	's/\Qreturn s.s_failed ? 1 : 0;\E/return 1;/'

mutant sup-nowait server/supervisor.c "service.t" \
	"on TERM the supervisor exits at once, not once its children are done" \
	's/\Q!(s->s_stopping && TAILQ_EMPTY(&s->s_gens))\E/!s->s_stopping/'

mutant detach-nowait server/daemon.c "ready.t" \
	"slua -d returns at once, before the pidfile, the port and the workers" \
	's/\t\t\Qdaemon_wait(p[0]);\E/\t\tif (p[0] >= 0)\n\t\t\t_exit(0);\n\t\tdaemon_wait(p[0]);/'

mutant ready-early server/start.c "ready.t" \
	"READY=1 (and -d returning) before handlers and a worker have started" \
	's/\Qif (!s->s_guarded) {\E/if (1) {/'

mutant handler-startfail server/supervisor.c "ready.t" \
	"a handler that cannot start under -d is retried for ever: -d never returns" \
	's/\Qif (!sl->sl_ready) {\E/if (0) {/'

mutant start-hup server/supervisor.c "ready.t" \
	"a HUP while starting reloads at once, not once slua serves" \
	's/\Qif (s->s_starting) {\E\n\t\ts->s_hup = 1;/if (0) {\n\t\ts->s_hup = 1;/'

mutant start-stderr server/handler.c "ready.t service.t" \
	"a daemon's handler keeps the pipe to the waiting parent as its stderr" \
	's/\t\Qif (proc_isdetached())\E\n\t\tproc_syslog\(\);\n//'

mutant pidfile-link server/pidfile.c "ready.t" \
	"the pidfile is written through a symbolic link" \
	's/\QO_CREAT | O_NOFOLLOW |\E/O_CREAT |/'

mutant pidfile-newline server/pidfile.c "ready.t" \
	"the pidfile holds the pid without a newline" \
	's/\Q"%d\n", (int)getpid()\E/"%d", (int)getpid()/'

mutant handler-respawn server/supervisor.c "tcp.t fault.t" \
	"a handler that died is not replaced (for an hour)" \
	's/(\Q&sl->sl_spawnat,\E\s+failed\);)/$1\n\tclock_add(&sl->sl_spawnat, 3600 * 1000);/'

mutant broker-respawn server/supervisor.c "fault.t" \
	"a broker that died is not replaced (for an hour)" \
	's/(\Q&g->g_brokerat, failed);\E)/$1\n\t\tclock_add(&g->g_brokerat, 3600 * 1000);/'

mutant brokerdied-error lua/work_handler.c "fault.t" \
	"jobs outstanding when the broker dies get no \"broker died\" error" \
	's/(\Qlua_pushliteral(L, "broker died");\E\n\t+)\Qwork_set(L, WORK_ERRORS, id);\E/$1lua_pop(L, 1);/'

mutant collect-order lua/work_handler.c "stdio.t" \
	"collect() returns answers in about the order they come, not submission order" \
	's/(\t+)(\Qif (work_has(L, WORK_PENDING, id))\E)\n(\t+)\Qwork_wait(L);\E/$1$2 {\n$3(void)ring_pop(&wk.w_order);\n$3(void)ring_push(&wk.w_order, id);\n$3work_wait(L);\n$1}/'

mutant seed-helloworld conf/examples/hello-worker.lua "stdio.t" \
	"the seed example prints \"helloworld\"" \
	"s/\\Q' world'\\E/'world'/"

# worker/pool.c is being reworked: a short pattern, to be kept up to date.
mutant job-kills worker/pool.c "stdio.t fault.t" \
	"a worker's death is charged to no job: a job that kills workers runs forever" \
	's/\Q++j->j_kills < POOL_KILLS\E/j->j_kills < POOL_KILLS/'

# The job lifecycle (slua(1) FAILURES), caught by jobs.t.
mutant quarantine-off worker/pool.c "jobs.t" \
	"no quarantine: a dead worker's oldest job is charged even when it held several, and runs again among others" \
	's/\Q(unknown && w->w_njobs == 1)\E/unknown/' \
	's/\Qjob_quarantine(b, j);\E\n\t\treturn;/job_enqueue(b, j, 1);\n\t\treturn;/' \
	's/\Qif (unknown || j->j_alone)\E/if (0)/'

mutant exit-drain-off lua/work.c "jobs.t" \
	"a worker that calls os.exit does not send what it answered first" \
	's/\Qif (atexit(work_worker_exit) != 0)\E/if (0)/'

# Not a mutant: SOCK_DGRAM instead of SOCK_SEQPACKET (common/ipc.c).  A
# datagram socket loses what a dead worker sent only when the broker
# sends to that worker between its death and the broker's next read; the
# broker's loop reads before it sends, and a worker that leaves says so
# first, so no test can make that happen on purpose.  SEQPACKET stays,
# for the window that is left.

# Answers sent straight from workers (lua/work_direct.c), caught by jobs.t.
mutant direct-fallback-off lua/work_direct.c "jobs.t" \
	"the broker is told an answer went straight to its handler even when the handler's socket was full" \
	's/\Qwork_direct_tobroker(n == (ssize_t)wd.d_len);\E/work_direct_tobroker(1);/'

mutant direct-interleave common/ipc.c "jobs.t" \
	"a worker's answer amid the broker's fragments on a handler's socket cuts the fragmented message" \
	's/\Q!(in->i_fragging && ipc_in_continues(in, &h));\E/!in->i_fragging;/'

mutant deadline-off worker/job.c "jobs.t" \
	"the broker never kills a worker past its job's deadline" \
	's/\Qif (job_killin(b, w, &now) != 0)\E/if (1)/'

mutant forward-unbounded worker/job.c "jobs.t" \
	"a chain of forwards is never cut" \
	's/\Qif (j->j_depth >= JOB_MAXFORWARD) {\E/if (0) {/'

mutant startfail-off worker/pool.c "jobs.t" \
	"workers that cannot start never fail the queue" \
	's/\Q++b->b_startfails < POOL_STARTFAILS\E/1/'

mutant usr1-busy server/handler.c "jobs.t" \
	"a handler never answers USR1" \
	's/\Qtimeout_status(handler_status);\E/(void)handler_status;/'

mutant reload-untried server/gen.c "jobs.t" \
	"a reload takes over before any of its workers has started" \
	's/\Qif (!g->g_hasworker || g->g_cf.cf_workers == 0)\E/if (1)/'

mutant lua-init-off lua/interp.c "normal.t" \
	"LUA_INIT is ignored" \
	's/\Qgetenv("LUA_INIT")\E/getenv("LUA_INIT_NOT")/'

mutant prompt-fixed lua/interp.c "normal.t" \
	"_PROMPT and _PROMPT2 are ignored" \
	's/\Qlua_getfield(L, LUA_GLOBALSINDEX, firstline ? "_PROMPT" : "_PROMPT2");\E/lua_pushnil(L);/'

mutant arg-early lua/interp.c "normal.t" \
	"arg is set while LUA_INIT, -e and -l run" \
	's/\Qstatus = interp_init(L);\E/interp_args(L, in->in_progname, cf->cf_handler, cf->cf_args, cf->cf_nargs);\n\tstatus = interp_init(L);/'

mutant shebang-bytecode lua/script.c "normal.t" \
	"a precompiled chunk after a #! line is read as text" \
	's/\Qsc->sc_buf[i + 1] == LUA_SIGNATURE[0]\E/0/'

mutant inetd-traceback lua/script.c "service.t" \
	"under inetd a handler's error and traceback go to the client" \
	's/\Qif (log_lua(msg)) {\E/if (log_lua(msg) || 1) {/'

mutant syslog-inherited common/log.c "service.t" \
	"a child sends syslog lines on the descriptor its parent opened" \
	's/\Qif (log_sockpid != pid) {\E/if (log_sockpid == 0) {/'

# The config file's bounds and checks (slua.conf(5)), caught by config.t.
mutant conf-steps common/conffile.c "config.t" \
	"a config file's instructions are not counted: a loop keeps the supervisor" \
	's/\QLUA_MASKCOUNT | LUA_MASKLINE\E/LUA_MASKLINE/'

mutant conf-cpu common/conffile.c "config.t" \
	"a config file's CPU time is not bounded: comparing long strings keeps the supervisor" \
	's/\Qconf_ms(CLOCK_THREAD_CPUTIME_ID, &ce->ce_cpu) > CONFIG_MAXCPU_MS\E/0/'

mutant conf-memory common/conffile.c "config.t" \
	"a config file's Lua state may hold any amount of memory" \
	's/\Qce->ce_used + (long long)(nsize - osize) > CONFIG_MAXMEMORY\E/0/'

mutant conf-binary common/conffile.c "config.t" \
	"a precompiled chunk loads as a config file" \
	's/\Q*nl == LUA_SIGNATURE[0]\E/0/'

mutant conf-size common/conffile.c "config.t" \
	"a config file over 1 MiB is read (its first MiB)" \
	's/\Qif (ce->ce_len > CONFIG_MAXFILE) {\E/if (0) {/'

mutant conf-sets common/conffile.c "config.t" \
	"a config file may assign settings without end" \
	's/\Q++conf_running->ce_sets > CONFIG_MAXSETS\E/0/'

mutant conf-types common/conffile.c "config.t" \
	"a setting takes a string whatever its kind: daemon = \"yes\" is no error" \
	's/\Q(kind != CONFIG_FLAG && type == LUA_TSTRING)\E/type == LUA_TSTRING/'

mutant conf-emptylist common/conffile.c "config.t" \
	"listen = {} passes, so slua listens everywhere" \
	's/\Qif (keys == 0)\E/if (0)/'

mutant conf-addr common/confcheck.c "config.t tcp.t" \
	"a listen address that does not parse passes, \"999.1.1.1\" among them" \
	's/(\Qconfcheck_addr(const char *addr, char *err, size_t len)\E\n\{\n(.*\n)*?\n)/$1\tif (addr != NULL)\n\t\treturn 0;\n/'

mutant conf-filecheck common/conffile.c "config.t" \
	"a config file's files, user and addresses are not checked where the file sets them" \
	's/\Qif (confcheck(kind, value, why, sizeof(why)) == 0)\E/if (kind >= 0)/'

mutant configtest-listen common/slua.c "config.t" \
	"slua -n does not look up the listen addresses" \
	's/\Qcf.cf_configtest && listen_check(&cf) == -1\E/0/'

mutant max-memory-floor common/config.c "config.t" \
	"max-memory takes a limit no Lua state can start under" \
	's/\Qcf->cf_max_memory > 0 && cf->cf_max_memory < 1 << 20\E/0/'

mutant proxy-ignored server/proxy.c "proxy.t" \
	"the PROXY header is read but client.ip stays the balancer's" \
	's/\Q*ss = ph.ph_src;\E/(void)ph.ph_src;/'

mutant proxy-trusted server/handler.c "proxy.t" \
	"a PROXY header is taken from every client, --proxy-protocol or not" \
	's/\Qif (cf->cf_proxy_protocol)\E/if (1)/'

mutant proxy-no-deadline server/proxy.c "proxy.t" \
	"a PROXY header that never ends holds the handler for an hour" \
	's/\Qclock_add(&deadline, timeout * 1000LL);\E/clock_add(\&deadline, 3600000LL);/'

mutant proxy-overread server/proxy.c "proxy.t" \
	"the PROXY reader takes what follows the header too" \
	's/\Qtake = r > 0 ? r - have : (size_t)n;\E/take = n;/'

mutant drain-none server/drain.c "proxy.t" \
	"on TERM the listeners stop at once, resetting what the kernel queued" \
	's/\Qif (listen_quiesce(&s->s_listen) == -1)\E/if (1)/'

mutant drain-queue-ignored server/drain.c "proxy.t" \
	"a drain stops the listeners with connections still queued" \
	's/ &&\n\t    listen_queued\Q(&s->s_listen) == 0\E//'

mutant drain-late server/supervisor.c "proxy.t" \
	"on TERM a busy handler's listener copy goes on queueing connections" \
	's/\tlisten_shut\Q(&s->s_listen);\E\n//'

mutant host-ready-at-once worker/host.c "workerhost.t" \
	"a worker-only host under -d says it serves before a worker has started" \
	's/\tif \(!h->h_starting\)\n\t\t(host_started)/\t$1/'

mutant host-old-kept worker/host.c "workerhost.t" \
	"a worker-only host's reload keeps the old broker taking jobs" \
	's/\thgen_retire\Q(h->h_cur);\E\n//'

mutant host-trial-fetches worker/queue_job.c "workerhost.t" \
	"a broker on trial takes jobs before any worker of it has started" \
	's/\Q || b->b_readyfd != -1\E//'

mutant host-broker-death worker/host.c "workerhost.t" \
	"a worker-only host whose broker was killed goes on without one" \
	's/\t\th->h_failed = 1;\n(\t}\n}\n\n\/\* Reap)/$1/'

# --- The machinery -----------------------------------------------------------

top=$(cd "$(dirname "$0")/.." && pwd)
LUA=${LUA:-lua5.1}
limit=${MUTATE_LIMIT:-120}

sel=()
for m in ${MUTANTS:-}; do
	for i in "${!names[@]}"; do
		[ "${names[$i]}" = "$m" ] && continue 2
	done
	echo "mutate: no mutant $m; there are: ${names[*]}" >&2
	exit 2
done
for i in "${!names[@]}"; do
	case " ${MUTANTS:-${names[$i]}} " in
	*" ${names[$i]} "*) sel+=("$i") ;;
	esac
done

# $work/base: the tree as it is and its binary, for the runs that tell
# whether a file fails unmutated; $work/tree: the copy the mutants go into.
work=$(mktemp -d "${TMPDIR:-/tmp}/slua-mutate.XXXXXX") || exit 2
base=$work/base
tree=$work/tree
cleanup() {
	# What is left of a test run: processes that run one of our binaries.
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/exe" 2>/dev/null)" in
		"$work"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;;
		esac
	done
	if [ -n "${MUTATE_KEEP:-}" ]; then
		echo "mutate: kept $work (the runs' output in $work/out)"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The files git knows or would add (not what .gitignore names), as they
# are now; or, outside git, everything but the build.
snapshot() {
	if git -C "$top" rev-parse --git-dir > /dev/null 2>&1; then
		git -C "$top" ls-files -z -c -o --exclude-standard |
		    (cd "$top" && while IFS= read -r -d '' f; do
			[ -f "$f" ] && printf '%s\0' "$f"
		    done | tar --null -T - -cf -)
	else
		(cd "$top" && tar --exclude=./build --exclude=./slua -cf - .)
	fi
}
mkdir "$base" "$tree" "$work/out" || exit 2
snapshot | tar -xf - -C "$base" || exit 2
cp -a "$base/." "$tree/" || exit 2

build() {	# log: make in the scratch tree, standalone
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make -C "$tree" -j"$(nproc)" LUA="$LUA" > "$1" 2>&1
}
bin=$tree/build/$LUA/slua

# Apply edits (separated by US) to file: each must change one place.
apply() {	# file edits
	perl -e '
		my ($file, $edits) = @ARGV;
		open(my $fh, "<", $file) or die "$file: $!\n";
		local $/;
		$_ = <$fh>;
		close $fh;
		for my $e (split /\x1f/, $edits) {
			die "not a substitution: $e\n" unless $e =~ /^s\W/;
			my $n = eval($e . "g");
			die "$e: $@" if $@;
			$n ||= 0;
			die "matches $n places, not one: $e\n" if $n != 1;
		}
		open($fh, ">", $file) or die "$file: $!\n";
		print $fh $_;
		close($fh) or die "$file: $!\n";
	' "$1" "$2"
}

# What failed in a run.sh output, one key a line: a test point's
# description with its numbers made N (they hold pids and timings; a point
# is known by its words, its own number moves when a run skips one), or
# the file's own trouble (timed out, left behind, plan, ...).
failures() {	# output
	{
		sed -n 's/^    not ok [0-9]* - \(.*\)/point \1/p' "$1" |
		    sed 's/[0-9][0-9]*/N/g'
		grep -E '^    [a-z]' "$1" | grep -v '^    not ok' |
		    grep -oE 'timed out|left behind|slua left running|no plan|planned [0-9]+, ran|exit status' |
		    sed 's/^planned.*/plan/'
	} | sort -u
}

runfile() {	# slua regress-dir file output [limit]: run.sh's status
	SLUA=$1 SLUA_TEST_LIMIT=${5:-300} bash "$2/run.sh" "$3" > "$4" 2>&1
}

# The unmutated build on file, once: its failures in $work/base-FILE.
baseline_bad=""
baseline() {	# file
	local out=$work/base-$1.out
	[ -e "$work/base-$1" ] && return
	if runfile "$base/slua" "$base/regress" "$1" "$out"; then
		: > "$work/base-$1"
		return
	fi
	failures "$out" > "$work/base-$1"
	baseline_bad="$baseline_bad $1"
	echo
	echo "mutate: $1 fails unmutated: what fails there kills no mutant:"
	grep -E '^    (not ok|[a-z])' "$out" | grep -vE '^    (ok|1\.\.)' |
	    head -20 | sed 's/^    /    | /'
	printf '%-18s ' "$name"
}

echo "mutate: building the unmutated tree in $tree"
if ! build "$work/build.log"; then
	echo "mutate: the unmutated tree does not build:"
	tail -20 "$work/build.log" | sed 's/^/    /'
	exit 2
fi
cp "$bin" "$base/slua"

killed=0 survived=0 errors=0
start=$(date +%s)
for i in "${sel[@]}"; do
	name=${names[$i]} f=${files[$i]}
	t0=$(date +%s)
	printf '%-18s ' "$name"
	verdict=""
	if ! apply "$tree/$f" "${edits[$i]}" 2> "$work/edit.err"; then
		verdict="ERROR     $f: $(cat "$work/edit.err")"
	elif ! build "$work/build.log"; then
		verdict="ERROR     $f: the mutant does not build:
$(grep -E 'error|Error' "$work/build.log" | head -5 | sed 's/^/    /')"
	fi
	if [ -z "$verdict" ] && [ -n "${MUTATE_BUILD_ONLY:-}" ]; then
		verdict="BUILT     $f
$(cd "$work" && diff -u "base/$f" "tree/$f" | tail -n +3 | sed 's/^/    /')
   "
	elif [ -z "$verdict" ]; then
		for t in ${tests[$i]}; do
			out=$work/out/$name-$t
			runfile "$bin" "$tree/regress" "$t" "$out" "$limit" && continue
			baseline "$t"
			new=$(failures "$out" | comm -23 - "$work/base-$t")
			[ -n "$new" ] || continue
			# A time-out first: it explains the rest.
			if grep -qx 'timed out' <<< "$new"; then
				new="timed out"
			else
				new=$(head -1 <<< "$new")
			fi
			case $new in
			point*)
				why=$(sed -n 's/^    not ok [0-9]* - //p' "$out" |
				    while IFS= read -r d; do
					[ "point $(sed 's/[0-9][0-9]*/N/g' <<< "$d")" = "$new" ] &&
					    { echo "$d"; break; }
				    done) ;;
			"timed out")
				why="timed out after $limit s" ;;
			*)	why="$new" ;;
			esac
			verdict="KILLED    $t: $why"
			break
		done
	fi
	case $verdict in
	"")	verdict="SURVIVED  ${tests[$i]// /, }: ${breaks[$i]}"
		survived=$((survived + 1)) ;;
	KILLED*)
		killed=$((killed + 1)) ;;
	BUILT*)	;;
	*)	errors=$((errors + 1)) ;;
	esac
	echo "$verdict ($(($(date +%s) - t0)) s)"
	cp "$base/$f" "$tree/$f"	# a new mtime: make builds it anew
done

summary="${#sel[@]} mutants: $killed killed, $survived survived"
[ "$errors" -gt 0 ] && summary="$summary, $errors errors"
echo "$summary ($(($(date +%s) - start)) s)"
if [ -n "$baseline_bad" ]; then
	echo "mutate: the unmutated tree fails:$baseline_bad"
fi
[ "$errors" -gt 0 ] && exit 2
[ "$survived" -gt 0 ] || [ -n "$baseline_bad" ] && exit 1
exit 0
