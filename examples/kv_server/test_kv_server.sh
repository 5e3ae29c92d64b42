#!/usr/bin/env bash
# examples/kv_server/test_kv_server.sh SERVER REDIS_CLI - ctest
# example.kv_server: starts the server on a free port (--port 0), drives it
# with the real redis-cli and with raw sockets (bash /dev/tcp), and stops
# it by PID with SIGTERM; the server must exit 0 (under ASan a leak makes
# the exit status non-zero).
set -uo pipefail

server=$1
cli=$2
workdir=$(mktemp -d)
out="$workdir/server.out"
pid=
fail=0

cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$workdir"
}
trap cleanup EXIT

die() {
	echo "FAIL: $*" >&2
	echo "--- server output:" >&2
	cat "$out" >&2
	exit 1
}

"$server" --port 0 --workers 2 >"$out" 2>&1 &
pid=$!
port=
for _ in $(seq 1 100); do
	port=$(awk '/listening on port/ { print $NF }' "$out")
	[[ -n "$port" ]] && break
	kill -0 "$pid" 2>/dev/null || die "server exited early"
	sleep 0.1
done
[[ -n "$port" ]] || die "server did not print its port"
echo "server pid $pid port $port"

rc() { timeout 10 "$cli" -p "$port" "$@"; }

expect() { # expect WANT redis-cli-args...
	local want=$1 got
	shift
	got=$(rc "$@" 2>&1)
	if [[ "$got" != "$want" ]]; then
		echo "FAIL: redis-cli $*: got [$got], want [$want]" >&2
		fail=1
	else
		echo "ok: $* -> $got"
	fi
}

expect PONG ping
expect hello ping hello
expect OK set k1 v1
expect v1 get k1
expect "" get nosuchkey
expect 1 del k1
expect 0 del k1
expect "" get k1
expect 1 incr counter
expect 2 incr counter
expect OK set n 41
expect 42 incr n
expect OK set s abc
expect "ERR value is not an integer or out of range" incr s
expect 2 del n s nosuchkey
expect "ERR unknown command 'nosuchcommand'" nosuchcommand
expect "ERR wrong number of arguments for 'get' command" get

# Pipelined requests to many keys come back in request order.
{
	for i in $(seq 1 200); do
		echo "SET key$i $i"
		echo "INCR key$i"
		echo "GET key$i"
	done
} >"$workdir/pipe.txt"
rc --pipe <"$workdir/pipe.txt" >"$workdir/pipe.out" 2>&1 ||
	die "redis-cli --pipe failed: $(cat "$workdir/pipe.out")"
grep -q "errors: 0, replies: 600" "$workdir/pipe.out" ||
	{ echo "FAIL: --pipe: $(cat "$workdir/pipe.out")" >&2; fail=1; }
{
	printf 'PING\r\n'
	for i in 1 2 3 4 5; do printf 'INCR order%d\r\nGET order%d\r\n' $i $i; done
	printf 'PING\r\n'
} >"$workdir/order.txt"
exec 3<>"/dev/tcp/127.0.0.1/$port"
cat "$workdir/order.txt" >&3
got=
for _ in $(seq 1 22); do
	IFS= read -r -t 5 line <&3 || break
	got+="${line%$'\r'}|"
done
exec 3<&-
want='+PONG|:1|$1|1|:1|$1|1|:1|$1|1|:1|$1|1|:1|$1|1|+PONG|'
if [[ "$got" != "$want" ]]; then
	echo "FAIL: pipelined order: got $got want $want" >&2
	fail=1
else
	echo "ok: pipelined replies in order"
fi

# A burst to one key is one batch for its actor; DEL (sent on its own)
# must not overtake the batched requests before it, nor the ones after.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'SET bx 1\r\nINCR bx\r\nDEL bx other\r\nGET bx\r\nINCR bx\r\nINCR bx\r\nPING\r\n' >&3
got=
for _ in $(seq 1 7); do
	IFS= read -r -t 5 line <&3 || break
	got+="${line%$'\r'}|"
done
exec 3<&-
want='+OK|:2|:1|$-1|:1|:2|+PONG|'
if [[ "$got" != "$want" ]]; then
	echo "FAIL: batch and DEL order: got $got want $want" >&2
	fail=1
else
	echo "ok: batch and DEL in order"
fi

# PUBLISH/SUBSCRIBE: a subscriber with a timeout, then publish until it
# has seen the message (the subscription may not be attached yet when the
# first publish runs).
timeout 10 "$cli" -p "$port" subscribe news >"$workdir/sub.out" 2>&1 &
subpid=$!
got_msg=0
for _ in $(seq 1 50); do
	n=$(rc publish news hello-subscriber)
	if grep -q hello-subscriber "$workdir/sub.out"; then
		got_msg=1
		break
	fi
	sleep 0.1
done
kill "$subpid" 2>/dev/null
wait "$subpid" 2>/dev/null
if [[ $got_msg -eq 1 ]] && grep -q '^subscribe$' "$workdir/sub.out" &&
	grep -q '^message$' "$workdir/sub.out"; then
	echo "ok: subscribe/publish (last publish reached $n)"
else
	echo "FAIL: subscriber saw: $(cat "$workdir/sub.out")" >&2
	fail=1
fi
expect 0 publish nobody-listens x

# Subscribe mode on a raw socket: two channels, a publish from another
# client, UNSUBSCRIBE of both, then ordinary commands again.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'SUBSCRIBE c1 c2\r\nGET k\r\n' >&3
got=
for _ in $(seq 1 13); do
	IFS= read -r -t 5 line <&3 || break
	got+="${line%$'\r'}|"
done
n=$(rc publish c2 pushed)
for _ in $(seq 1 7); do
	IFS= read -r -t 5 line <&3 || break
	got+="${line%$'\r'}|"
done
printf 'UNSUBSCRIBE\r\nPING\r\n' >&3
for _ in $(seq 1 13); do
	IFS= read -r -t 5 line <&3 || break
	got+="${line%$'\r'}|"
done
exec 3<&-
want='*3|$9|subscribe|$2|c1|:1|*3|$9|subscribe|$2|c2|:2|'
want+='-ERR Can'"'"'t execute this command: only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context|'
want+='*3|$7|message|$2|c2|$6|pushed|'
# UNSUBSCRIBE with no channel: one reply per channel, newest first here.
want+='*3|$11|unsubscribe|$2|c2|:1|*3|$11|unsubscribe|$2|c1|:0|+PONG|'
if [[ "$got" != "$want" || "$n" != 1 ]]; then
	echo "FAIL: subscribe mode: got $got (publish reached $n)" >&2
	echo "                   want $want" >&2
	fail=1
else
	echo "ok: subscribe, push, unsubscribe on a raw socket"
fi
expect OK set empty ""
expect "" get empty

# INFO carries troupe's metrics (troupe/metrics.h).
info=$(rc info)
for field in troupe_sent troupe_processed troupe_spawned \
	troupe_dead_lettered troupe_workers:2 connected_clients \
	troupe_actors_alive troupe_busy_seconds troupe_idle_wakeups \
	troupe_inject_queue_depth troupe_sched_latency_samples \
	troupe_sched_latency_p99_us; do
	if ! grep -q "^$field" <<<"$info"; then
		echo "FAIL: INFO lacks $field" >&2
		fail=1
	fi
done
# the key actors of the commands above are alive and have run
alive=$(tr -d '\r' <<<"$info" | sed -n 's/^troupe_actors_alive://p')
processed=$(tr -d '\r' <<<"$info" | sed -n 's/^troupe_processed://p')
if ! [ "${alive:-0}" -ge 1 ] || ! [ "${processed:-0}" -ge 1 ]; then
	echo "FAIL: INFO: actors_alive=$alive processed=$processed" >&2
	fail=1
fi
echo "ok: INFO has troupe fields"

# INFO PROMETHEUS: trp_stats_write()'s text exposition.
prom=$(rc info prometheus)
for line in "# TYPE troupe_sched_latency_seconds histogram" \
	'troupe_sched_latency_seconds_bucket{le="+Inf"} ' \
	'troupe_worker_turns_total{worker="1"} ' \
	"# TYPE troupe_messages_processed_total counter"; do
	if ! grep -qF -- "$line" <<<"$prom"; then
		echo "FAIL: INFO PROMETHEUS lacks [$line]" >&2
		fail=1
	fi
done
# every line a comment or "name[{labels}] value"
bad=$(grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"\})? [0-9.e+-]+)$' <<<"$prom" | head -3)
if [ -n "$bad" ]; then
	echo "FAIL: INFO PROMETHEUS: malformed lines: $bad" >&2
	fail=1
fi
echo "ok: INFO PROMETHEUS is text exposition"

# INFO JSON: trp_stats_write()'s JSON, parsed by python3 where there is one.
json=$(rc info json)
if command -v python3 >/dev/null; then
	if ! python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
assert len(d["workers"]) == 2 and d["processed"] >= 1, d
assert d["actors"]["alive"] >= 1' <<<"$json"; then
		echo "FAIL: INFO JSON does not parse or lacks values" >&2
		fail=1
	fi
elif ! grep -q '^{"version":1,"workers":\[' <<<"$json"; then
	echo "FAIL: INFO JSON: $json" >&2
	fail=1
fi
echo "ok: INFO JSON parses"

# Malformed requests get -ERR and the server keeps serving.
raw_error() { # raw_error BYTES: send them, read the first reply line
	local line=
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%b' "$1" >&3
	IFS= read -r -t 5 line <&3
	exec 3<&-
	printf '%s' "${line%$'\r'}"
}
for bad in '*abc\r\n' '*1\r\n$x\r\n' '*1\r\n$-3\r\n' '*2\r\nGET\r\n' \
	'*99999999\r\n' '*1\r\n$4\r\nPINGxx\r\n' \
	'*1\r\n$999999999999\r\n'; do
	got=$(raw_error "$bad")
	if [[ "$got" != -ERR* ]]; then
		echo "FAIL: malformed $bad: got [$got]" >&2
		fail=1
	else
		echo "ok: malformed $bad -> $got"
	fi
done
expect PONG ping

# Many connections pipelining to one key at once: each connection's
# replies come back in its own order (its INCRs of the shared key rise),
# interleaved with its own key's SET/GET, and no INCR is lost.
conc_client() { # conc_client N: 100 x (INCR cc, SET ccN N, GET ccN)
	local n=$1 prev=0 i line v ok=1
	exec 4<>"/dev/tcp/127.0.0.1/$port"
	for i in $(seq 1 100); do
		printf 'INCR cc\r\nSET cc%d %d\r\nGET cc%d\r\n' "$n" "$i" "$n"
	done >&4
	for i in $(seq 1 100); do
		IFS= read -r -t 10 line <&4 || { ok=0; break; }
		v=${line%$'\r'}
		[[ "$v" =~ ^:[0-9]+$ ]] && ((${v#:} > prev)) || ok=0
		prev=${v#:}
		IFS= read -r -t 10 line <&4 || { ok=0; break; }
		[[ "${line%$'\r'}" == "+OK" ]] || ok=0
		IFS= read -r -t 10 line <&4 || { ok=0; break; }
		IFS= read -r -t 10 line <&4 || { ok=0; break; }
		[[ "${line%$'\r'}" == "$i" ]] || ok=0
	done
	exec 4<&-
	echo "$ok" >"$workdir/conc.$n"
}
cpids=()
for n in $(seq 1 8); do
	conc_client "$n" &
	cpids+=($!)
done
wait "${cpids[@]}"
got=$(cat "$workdir"/conc.* | tr -d '\n')
if [[ "$got" != "11111111" ]] || [[ "$(rc get cc)" != "800" ]]; then
	echo "FAIL: concurrent clients on one key: [$got] cc=$(rc get cc)" >&2
	fail=1
else
	echo "ok: 8 concurrent pipelined clients on one key, in order"
fi

# Clients that disconnect mid-request: a request cut short, and a
# pipeline of key requests whose replies are still in flight.
for _ in $(seq 1 20); do
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf '*3\r\n$3\r\nSET\r\n$4\r\ncut1\r\n$100\r\nabc' >&3
	exec 3<&-
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	for i in $(seq 1 50); do printf 'INCR gone%d\r\n' "$i"; done >&3
	exec 3<&-
done
subscribe_and_leave() {
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf 'SUBSCRIBE leaving\r\n' >&3
	exec 3<&-
}
subscribe_and_leave
expect "" get cut1
# Each pipeline's INCRs reached the actors unless the client's close
# overtook them (a reset discards unread input): at most 20 + 1.
got=$(rc incr gone1)
if [[ ! "$got" =~ ^[0-9]+$ ]] || ((got < 1 || got > 21)); then
	echo "FAIL: incr gone1 after the disconnects: [$got]" >&2
	fail=1
else
	echo "ok: incr gone1 -> $got"
fi
expect PONG ping
kill -0 "$pid" 2>/dev/null || die "server died"

# Stop by PID; the server exits 0 (no leaks under ASan).
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
if [[ $status -ne 0 ]]; then
	echo "FAIL: server exit status $status" >&2
	cat "$out" >&2
	fail=1
fi
grep -q "kv_server: stopped" "$out" || { echo "FAIL: no clean stop" >&2; fail=1; }
[[ $fail -eq 0 ]] && echo "PASS" || { cat "$out" >&2; }
exit $fail
