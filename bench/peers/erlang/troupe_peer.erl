%% bench/peers/erlang/troupe_peer.erl - troupe-peer-erlang: the supervision
%% workloads of troupe-bench (issue 11, "Benchmark") written the way an
%% Erlang/OTP programmer would write them, to put troupe beside the runtime
%% supervision comes from.
%%
%%   troupe-peer-erlang WORKLOAD [--PARAM VALUE]... [--workers W] [--runs R]
%%
%% Same CLI shape, parameter names, defaults and output line as troupe-bench
%% (bench/cli.c), with runtime=erlang:
%%
%%   workload=restart runtime=erlang messages=3005 seconds=0.009404
%%   rate=106337 check=ok workers=2 n=1000 logging=0 peak_rss_kb=40744
%%
%% (one line; wrapped here). A run whose check fails prints its details and
%% a check=FAILED line (no rate) on stderr and exits 1 at once. Bad options
%% print the usage on stderr and exit 2. The wrapper troupe-peer-erlang
%% starts the emulator with `+S W:W` (W schedulers; --workers 0 = one per
%% online core, the emulator's default) and everything else at its
%% defaults.
%%
%% restart: a supervisor (one_for_one, intensity 4294967295 per 1 s: it
%%   never trips; the period is whole seconds, 1 at least, so the intensity
%%   must exceed the restarts of a second) with one permanent child, a
%%   plain process (spawn_link, the lightest child a supervisor takes; a
%%   gen_server would add its own machinery on top). The child announces
%%   itself to a driver ({ready, self()}); the driver sends it {work, I} and
%%   {poison, I}; the child processes the work and exits on the poison
%%   (exit(poison)); the supervisor restarts it; the next child's ready
%%   starts round I + 1. After N poisons, the last child gets
%%   {work, N + 1} and a sync. rate= counts restarts per second. Check: the
%%   supervisor started the child N + 1 times, the children processed work
%%   1..N+1 and poison 1..N in order, the driver got N + 1 readys.
%%   Logging: the supervisor logs every child_terminated as an error report;
%%   the primary logger level is set to none (--logging 0, the default), as
%%   troupe logs nothing. --logging 1 keeps OTP's default (notice) and sends
%%   the reports to a handler that drops them, to see what they cost.
%%   Note: OTP's supervisor keeps the time of every restart within its
%%   period in a list it walks at each restart (add_restart/3: takewhile,
%%   length), so at a high rate each restart costs more the more restarts
%%   fell within the last 1-2 s: the rate falls as --n grows until about
%%   2 s worth of restarts (bench/peers/README.md).
%%
%% down: a watcher runs N rounds: spawn_monitor/1 a target, send it stop;
%%   the target writes erlang:monotonic_time(nanosecond) into the round's
%%   slot of an atomics array and returns (exits normally); the watcher
%%   reads the clock when it receives the 'DOWN' and starts the next round.
%%   --inflight K rounds at once. Latency: the target's reading to the
%%   watcher's, in the log-linear histogram of bench/bench_util.h, ported
%%   (a counters array); p50_ns= p99_ns= p999_ns= max_ns=; rate= counts
%%   DOWNs per second. Check: every 'DOWN' carries a monitor ref the watcher
%%   is waiting for (exactly once), the target's pid, reason normal and a
%%   reading; N in all.
%%
%% node_down: K rounds; a round starts a far node (peer:start/1, not
%%   linked: its death must not take this process down), spawns there a
%%   process that registers itself as nd_target, monitors it by name
%%   (erlang:monitor(process, {nd_target, Node})), then reads the clock and
%%   has a shell it started beforehand (a port to /bin/sh, so no fork or
%%   exec is timed) run `kill -9` of the far node's OS process; the clock is
%%   read again when the 'DOWN' arrives. Latency percentiles as above;
%%   rate= is kills per second of the whole run (restarts included). The
%%   far node runs with the same +S and, with --ticktime T, both nodes with
%%   -kernel net_ticktime T (the wrapper passes it to this node's erl; the
%%   default is 60 s: a silent peer is noticed within 45-75 s). A kill -9
%%   closes the far node's sockets at once (the kernel does), so this node
%%   normally sees the connection drop right away, whatever the tick time;
%%   net_ticktime is what bounds the detection of a peer that goes silent
%%   without closing its connection. Check: one 'DOWN' per kill, reason
%%   noconnection, none twice (2 s after the last round, nothing more).
%%
%% Timing: from the go to the driver / watcher (after setup) to the done
%% message it sends when the last message has been processed.
%%
%% The remote workloads (troupe-bench remote_*: two nodes, each its own
%% process) run across two Erlang nodes on loopback with the default
%% distribution (TCP). The wrapper starts this node distributed (-sname,
%% a random cookie) with its own epmd on a free port (ERL_EPMD_PORT),
%% which it kills at the end. Each run starts a second node with
%% peer:start_link/1 (OTP 25; same cookie, same +S W:W, this module on its
%% code path), spawns the far side's process on it, and stops it with
%% peer:stop/1 after the run (a peer node also halts if this one dies).
%% WARMUP (100) round trips first, not measured, as in troupe-bench.
%%
%% remote_pingpong: a process on this node sends {ball, Seq, self()} to a
%%   process on the far node, which sends {ball, Seq} back; one in flight,
%%   WARMUP + P round trips; latency of each measured round trip in the
%%   histogram below; rate= round trips per second. Check: balls in order
%%   on both sides, P + WARMUP of them (the far process reports its count).
%% remote_fanin: --producers processes on this node each send
%%   {int, I, N} for N = 1..M to one process on the far node, then
%%   {fin, Main}; the far process checks per-producer order, counts and
%%   sums, and after the last producer's fin (distribution keeps the order
%%   of each pair of processes: every message before it has arrived) sends
%%   its counters to Main. Timing: from the go to the producers to Main's
%%   receipt of the counters (one one-way hop more than troupe's far-side
%%   reading; the two emulators' monotonic clocks are not comparable).
%%   Check: count P*M, sum P*M(M+1)/2, nothing out of order.
%% remote_ask: one process keeps --inflight K requests {req, self(), Corr,
%%   V} in flight to an echo process on the far node, which answers
%%   {rep, Corr, V + 1}; N in all, each answer received by its Corr (a
%%   selective receive of the oldest: answers come back in order, so it is
%%   the first message), its value checked; latency per request.
-module(troupe_peer).
-behaviour(supervisor).

-export([main/0, init/1, child_start/2]).
%% the far node's processes (remote_*), spawned there by name
-export([rpp_pong/2, rfi_sink/1, rask_echo/2, nd_target/1]).
%% logger handler callback (--logging 1): drops every event
-export([log/2]).

-define(HIST_SUB_BITS, 4).
-define(HIST_BUCKETS, ((64 - ?HIST_SUB_BITS + 1) bsl ?HIST_SUB_BITS)).
-define(UINT32_MAX, 4294967295).
%% An empty slot of the down workload's atomics array. (Monotonic time has
%% an arbitrary origin and is often negative: 0 is a time like any other.)
-define(NO_STAMP, -(1 bsl 63)).

%% counters of the restart workload (a counters array, 1-based)
-define(C_STARTS, 1).
-define(C_WORK, 2).
-define(C_POISON, 3).
-define(C_BAD, 4).
-define(C_SIZE, 4).

%% {Name, Summary, [{Param, Help, Default, Min, Max}], RunFun}
workloads() ->
    [{"restart",
      "a supervised child exits on a poison message and is restarted; "
      "the new child processes the next message; restarts per second",
      [{"n", "restarts (N)", 200000, 1, 1000000000},
       {"logging", "1: keep OTP's logging of each restart (erlang only)",
        0, 0, 1}],
      fun run_restart/1},
     {"down",
      "a watcher monitors a target that stops; stop-to-DOWN latency "
      "percentiles and DOWNs per second",
      [{"n", "DOWNs (N): targets stopped and heard of", 1000000, 1,
        10000000000},
       {"inflight", "rounds at once (K)", 1, 1, 1024}],
      fun run_down/1},
     {"remote_pingpong",
      "two nodes (processes) over Erlang distribution bounce one message "
      "P times; round trips per second and latency percentiles",
      [{"p", "measured round trips (P)", 20000, 1, 1000000000}],
      fun run_remote_pingpong/1},
     {"remote_fanin",
      "producer processes send 1..M each to one process on another node",
      [{"m", "integers each producer sends (M)", 1000000, 1, 10000000000},
       {"producers", "producer processes on this node", 1, 1, 64}],
      fun run_remote_fanin/1},
     {"remote_ask",
      "one process keeps K requests in flight to an echo process on "
      "another node; round trips per second and latency percentiles",
      [{"n", "measured asks (N)", 200000, 1, 10000000000},
       {"inflight", "asks in flight (K)", 64, 1, 1024}],
      fun run_remote_ask/1},
     {"node_down",
      "a far node's OS process is killed (kill -9) K times while a "
      "process here monitors a process registered there; kill-to-DOWN "
      "latency percentiles",
      [{"kills", "far OS processes killed (K), one per round", 20, 1, 10000},
       {"ticktime", "net_ticktime of both nodes, s (0: the default, 60; "
        "the wrapper passes it to erl)", 0, 0, 3600}],
      fun run_node_down/1}].

%% --- CLI ---------------------------------------------------------------------

usage(Dev) ->
    io:format(Dev,
              "usage: troupe-peer-erlang WORKLOAD [options]~n~n"
              "common options:~n"
              "  --workers W   schedulers (+S W:W; default 2; 0 = online cores)~n"
              "  --runs R      measured runs, one output line each (default 1)~n"
              "  --help        this text~n", []),
    lists:foreach(
      fun({Name, Summary, Params, _}) ->
              io:format(Dev, "~n~s: ~s~n", [Name, Summary]),
              lists:foreach(
                fun({P, Help, Def, Min, Max}) ->
                        io:format(Dev, "  --~-11s ~s (default ~b, ~b..~b)~n",
                                  [P, Help, Def, Min, Max])
                end, Params)
      end, workloads()).

bad_usage(What, Arg) ->
    case Arg of
        none -> io:format(standard_error, "troupe-peer-erlang: ~s~n~n", [What]);
        _ -> io:format(standard_error, "troupe-peer-erlang: ~s '~s'~n~n",
                       [What, Arg])
    end,
    usage(standard_error),
    halt(2).

main() ->
    Args = init:get_plain_arguments(),
    case lists:member("--help", Args) orelse lists:member("-h", Args) of
        true -> usage(standard_io), halt(0);
        false -> ok
    end,
    case Args of
        [[$- | _] | _] -> bad_usage("missing WORKLOAD", none);
        [] -> bad_usage("missing WORKLOAD", none);
        [Name | Rest] ->
            case lists:keyfind(Name, 1, workloads()) of
                false -> bad_usage("unknown workload", Name);
                W -> main(W, Rest)
            end
    end.

main({Name, _, Params, Run}, Rest) ->
    Defaults = [{P, Def} || {P, _, Def, _, _} <- Params],
    Common = [{"workers", 2, 0, 1024}, {"runs", 1, 1, 1000}],
    Values0 = Defaults ++ [{P, Def} || {P, Def, _, _} <- Common],
    Ranges = [{P, Min, Max} || {P, _, _, Min, Max} <- Params] ++
        [{P, Min, Max} || {P, _, Min, Max} <- Common],
    Values = parse(Rest, Ranges, Values0),
    Workers = value("workers", Values),
    Online = erlang:system_info(schedulers_online),
    case Workers =:= 0 orelse Workers =:= Online of
        true -> ok;
        false ->
            %% the wrapper sets +S from --workers; run without it, the
            %% emulator may have another count
            io:format(standard_error,
                      "troupe-peer-erlang: --workers ~b but ~b schedulers "
                      "online (start it through troupe-peer-erlang)~n",
                      [Workers, Online]),
            halt(2)
    end,
    ok = logger:set_primary_config(level, none),
    lists:foreach(
      fun(_) ->
              R = Run(Values),
              print(Name, Params, Values, Online, R)
      end, lists:seq(1, value("runs", Values))),
    halt(0).

parse([], _, Values) -> Values;
parse(["--" ++ Opt | Rest], Ranges, Values) ->
    {P, Val, Rest1} =
        case string:split(Opt, "=") of
            [P0, V0] -> {P0, V0, Rest};
            [P0] ->
                case Rest of
                    [V0 | R0] -> {P0, V0, R0};
                    [] -> bad_usage("missing value for", "--" ++ Opt)
                end
        end,
    case lists:keyfind(P, 1, Ranges) of
        false -> bad_usage("unknown option", "--" ++ Opt);
        {P, Min, Max} ->
            case catch list_to_integer(Val) of
                V when is_integer(V), V >= Min, V =< Max ->
                    parse(Rest1, Ranges, lists:keystore(P, 1, Values, {P, V}));
                _ -> bad_usage("not a number or out of range:", Val)
            end
    end;
parse([Arg | _], _, _) -> bad_usage("unknown option", Arg).

value(P, Values) -> element(2, lists:keyfind(P, 1, Values)).

%% R: #{ok, messages, items, seconds, extra}
print(Name, Params, Values, Workers, R) ->
    #{ok := Ok, messages := Msgs, items := Items, seconds := S} = R,
    Head = io_lib:format("workload=~s runtime=erlang messages=~b seconds=~.6f",
                         [Name, Msgs, S]),
    Rate = case Ok of
               true when S > 0 -> io_lib:format(" rate=~b check=ok",
                                                [round(Items / S)]);
               true -> " rate=0 check=ok";
               false -> " check=FAILED"
           end,
    Ps = [io_lib:format(" ~s=~b", [P, value(P, Values)])
          || {P, _, _, _, _} <- Params],
    Extra = case maps:get(extra, R, "") of
                "" -> "";
                E -> [" ", E]
            end,
    Line = [Head, Rate, io_lib:format(" workers=~b", [Workers]), Ps, Extra,
            io_lib:format(" peak_rss_kb=~b~n", [peak_rss_kb()])],
    case Ok of
        true -> io:put_chars(standard_io, Line);
        false -> io:put_chars(standard_error, Line), halt(1)
    end.

%% VmHWM of this process: the figure /usr/bin/time -v reports.
peak_rss_kb() ->
    case file:read_file("/proc/self/status") of
        {ok, Bin} ->
            case re:run(Bin, "VmHWM:\\s*(\\d+)", [{capture, [1], list}]) of
                {match, [Kb]} -> list_to_integer(Kb);
                nomatch -> 0
            end;
        _ -> 0
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

failed(Workload, Fmt, Args) ->
    io:format(standard_error, "~s: check failed: " ++ Fmt ++ "~n",
              [Workload | Args]),
    false.

%% --- restart -----------------------------------------------------------------

%% supervisor callback
init({Driver, C}) ->
    Flags = #{strategy => one_for_one, intensity => ?UINT32_MAX, period => 1},
    Child = #{id => child,
              start => {?MODULE, child_start, [Driver, C]},
              restart => permanent,
              shutdown => brutal_kill,
              type => worker},
    {ok, {Flags, [Child]}}.

%% The child's start function, called by the supervisor at every (re)start.
child_start(Driver, C) ->
    counters:add(C, ?C_STARTS, 1),
    {ok, spawn_link(fun() ->
                            Driver ! {ready, self()},
                            child_loop(C, 0)
                    end)}.

child_loop(C, Handled) ->
    receive
        {work, Seq} ->
            expect(C, Handled =:= 0 andalso
                   Seq =:= counters:get(C, ?C_WORK) + 1),
            counters:add(C, ?C_WORK, 1),
            child_loop(C, Handled + 1);
        {poison, Seq} ->
            expect(C, Handled =:= 1 andalso
                   Seq =:= counters:get(C, ?C_POISON) + 1),
            counters:add(C, ?C_POISON, 1),
            exit(poison);
        {sync, From} ->
            From ! {synced, self()},
            child_loop(C, Handled);
        _ ->
            counters:add(C, ?C_BAD, 1),
            child_loop(C, Handled)
    end.

expect(_, true) -> ok;
expect(C, false) -> counters:add(C, ?C_BAD, 1).

driver(Main, N) ->
    receive {ready, First} -> ok end,
    Main ! {driver_ready, self()},
    receive go -> ok end,
    Readys = drive(First, 1, N, 1),
    Main ! {done, self(), Readys}.

drive(Child, Seq, N, Readys) when Seq =< N ->
    Child ! {work, Seq},
    Child ! {poison, Seq},
    receive {ready, Next} -> drive(Next, Seq + 1, N, Readys + 1) end;
drive(Child, Seq, _, Readys) ->
    Child ! {work, Seq},
    Child ! {sync, self()},
    receive {synced, Child} -> Readys end.

run_restart(Values) ->
    N = value("n", Values),
    Logging = value("logging", Values) =:= 1,
    set_logging(Logging),
    C = counters:new(?C_SIZE, [atomics]),
    Main = self(),
    Driver = spawn_link(fun() -> driver(Main, N) end),
    process_flag(trap_exit, true),
    {ok, Sup} = supervisor:start_link(?MODULE, {Driver, C}),
    receive {driver_ready, Driver} -> ok end,
    T0 = now_ns(),
    Driver ! go,
    Readys = receive {done, Driver, R} -> R end,
    T1 = now_ns(),
    Starts = counters:get(C, ?C_STARTS),
    Work = counters:get(C, ?C_WORK),
    Poison = counters:get(C, ?C_POISON),
    Bad = counters:get(C, ?C_BAD),
    Alive = proplists:get_value(active, supervisor:count_children(Sup)),
    stop_sup(Sup),
    set_logging(false),
    Ok = case Starts =:= N + 1 andalso Work =:= N + 1 andalso
             Poison =:= N andalso Bad =:= 0 andalso Readys =:= N + 1 andalso
             Alive =:= 1 of
             true -> true;
             false ->
                 failed("restart",
                        "~b starts (want ~b), ~b work (want ~b), ~b poison "
                        "(want ~b), ~b bad, ~b readys (want ~b), ~p children "
                        "alive (want 1)",
                        [Starts, N + 1, Work, N + 1, Poison, N, Bad, Readys,
                         N + 1, Alive])
         end,
    %% go, N x (work, poison, ready), work, sync, synced, done
    #{ok => Ok, messages => 3 * N + 5, items => N,
      seconds => (T1 - T0) / 1.0e9}.

stop_sup(Sup) ->
    Ref = monitor(process, Sup),
    unlink(Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok end,
    flush_exits().

%% The driver's {'EXIT', Driver, normal} (this process traps exits).
flush_exits() ->
    receive {'EXIT', _, _} -> flush_exits() after 0 -> ok end.

%% --logging 1: OTP's default level (notice), the supervisor's reports
%% formatted and passed to a handler that drops them (not the terminal's:
%% writing 10^5 reports to a pipe would measure the pipe).
set_logging(true) ->
    ok = logger:set_primary_config(level, notice),
    _ = logger:remove_handler(default),
    case logger:add_handler(troupe_peer_drop, ?MODULE, #{}) of
        ok -> ok;
        {error, {already_exist, _}} -> ok
    end;
set_logging(false) ->
    ok = logger:set_primary_config(level, none).

log(Event, #{formatter := {FMod, FConf}}) ->
    _ = FMod:format(Event, FConf),
    ok;
log(_, _) -> ok.

%% --- down --------------------------------------------------------------------

run_down(Values) ->
    N = value("n", Values),
    K = value("inflight", Values),
    Stamps = atomics:new(K, [{signed, true}]),
    Hist = counters:new(?HIST_BUCKETS, [write_concurrency]),
    Main = self(),
    Watcher = spawn_link(fun() ->
                                 receive go -> ok end,
                                 Main ! {done, self(),
                                         watch(N, K, Stamps, Hist)}
                         end),
    T0 = now_ns(),
    Watcher ! go,
    {Started, Downs, Bad, Open, Count, Max} =
        receive {done, Watcher, R} -> R end,
    T1 = now_ns(),
    Ok = case Started =:= N andalso Downs =:= N andalso Bad =:= 0 andalso
             Open =:= 0 andalso Count =:= N of
             true -> true;
             false ->
                 failed("down",
                        "~b rounds started, ~b DOWNs (want ~b each), ~b bad, "
                        "~b monitors never heard from, ~b samples",
                        [Started, Downs, N, Bad, Open, Count])
         end,
    Q = fun(P) -> hist_quantile(Hist, Count, Max, P) end,
    #{ok => Ok, messages => 2 * N + 2, items => N,
      seconds => (T1 - T0) / 1.0e9,
      extra => io_lib:format("p50_ns=~b p99_ns=~b p999_ns=~b max_ns=~b",
                             [Q(0.50), Q(0.99), Q(0.999), Max])}.

target(Stamps, Slot) ->
    receive
        stop -> atomics:put(Stamps, Slot, now_ns());
        _ -> atomics:put(Stamps, Slot, ?NO_STAMP)
    end.

start_round(Slot, Stamps, Open) ->
    atomics:put(Stamps, Slot, ?NO_STAMP),
    {Pid, Ref} = spawn_monitor(fun() -> target(Stamps, Slot) end),
    Pid ! stop,
    Open#{Ref => {Slot, Pid}}.

%% The watcher's state.
-record(w, {n, started = 0, downs = 0, bad = 0, open = #{}, stamps, hist,
            count = 0, max = 0}).

%% Returns {Started, Downs, Bad, Open, Count, Max}.
watch(N, K, Stamps, Hist) ->
    First = min(K, N),
    Open = lists:foldl(fun(Slot, M) -> start_round(Slot, Stamps, M) end,
                       #{}, lists:seq(1, First)),
    watch_loop(#w{n = N, started = First, open = Open, stamps = Stamps,
                  hist = Hist}).

watch_loop(#w{n = N, started = N, downs = N} = W) ->
    {W#w.started, W#w.downs, W#w.bad, map_size(W#w.open), W#w.count,
     W#w.max};
watch_loop(W) ->
    receive
        {'DOWN', Ref, process, Pid, Reason} ->
            Now = now_ns(),
            case maps:take(Ref, W#w.open) of
                error -> % unknown, or a second DOWN for one monitor
                    watch_loop(W#w{bad = W#w.bad + 1});
                {{Slot, Pid0}, Open} ->
                    T = atomics:get(W#w.stamps, Slot),
                    W1 = case Pid =:= Pid0 andalso Reason =:= normal
                             andalso T =/= ?NO_STAMP andalso Now >= T of
                             true -> sample(W, Now - T);
                             false -> W#w{bad = W#w.bad + 1}
                         end,
                    W2 = case W1#w.started < W1#w.n of
                             true ->
                                 W1#w{started = W1#w.started + 1,
                                      open = start_round(Slot, W1#w.stamps,
                                                         Open)};
                             false -> W1#w{open = Open}
                         end,
                    watch_loop(W2#w{downs = W2#w.downs + 1})
            end;
        _ ->
            watch_loop(W#w{bad = W#w.bad + 1})
    end.

sample(#w{hist = Hist, count = C, max = M} = W, V) ->
    hist_record(Hist, V),
    W#w{count = C + 1, max = max(M, V)}.

%% --- the histogram of bench/bench_util.h ---------------------------------------
%% Values below 16 have a bucket each; above, each power of two is split in
%% 16 equal buckets (<= 6.25 % wide); a quantile is the upper bound of the
%% bucket holding its rank, capped at the largest value. The buckets are a
%% counters array; the recording process keeps the count and the maximum.

hist_record(Hist, V) -> counters:add(Hist, hist_index(V) + 1, 1).

hist_index(V) when V < (1 bsl ?HIST_SUB_BITS) -> V;
hist_index(V) ->
    Msb = msb(V),
    Sub = (V bsr (Msb - ?HIST_SUB_BITS)) band ((1 bsl ?HIST_SUB_BITS) - 1),
    ((Msb - ?HIST_SUB_BITS + 1) bsl ?HIST_SUB_BITS) + Sub.

msb(V) -> msb(V, 0).
msb(V, B) when V >= 256 -> msb(V bsr 8, B + 8);
msb(V, B) when V >= 2 -> msb(V bsr 1, B + 1);
msb(_, B) -> B.

hist_upper(I) when I < (1 bsl ?HIST_SUB_BITS) -> I;
hist_upper(I) ->
    Msb = (I bsr ?HIST_SUB_BITS) + ?HIST_SUB_BITS - 1,
    Sub = I band ((1 bsl ?HIST_SUB_BITS) - 1),
    Width = 1 bsl (Msb - ?HIST_SUB_BITS),
    ((1 bsl ?HIST_SUB_BITS) + Sub) * Width + Width - 1.

hist_quantile(_, 0, _, _) -> 0;
hist_quantile(Hist, Count, Max, Q) ->
    Rank = max(1, min(Count, trunc(Q * Count + 0.999999999))),
    hist_find(Hist, 0, 0, Rank, Max).

hist_find(_, I, _, _, Max) when I >= ?HIST_BUCKETS -> Max;
hist_find(Hist, I, Seen, Rank, Max) ->
    Seen1 = Seen + counters:get(Hist, I + 1),
    case Seen1 >= Rank of
        true -> min(hist_upper(I), Max);
        false -> hist_find(Hist, I + 1, Seen1, Rank, Max)
    end.

%% --- remote workloads (two nodes) ------------------------------------------

-define(WARMUP, 100).

%% Starts the far node of one run; {Peer, Node}.
start_far(_Values) ->
    case node() of
        nonode@nohost ->
            io:format(standard_error,
                      "troupe-peer-erlang: the remote workloads need a "
                      "distributed node (start it through "
                      "troupe-peer-erlang)~n", []),
            halt(2);
        _ -> ok
    end,
    Name = list_to_atom("trp_far_" ++ os:getpid() ++ "_" ++
                            integer_to_list(erlang:unique_integer([positive]))),
    W = erlang:system_info(schedulers_online),
    Ebin = filename:dirname(code:which(?MODULE)),
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-pa", Ebin, "+S", io_lib:format("~b:~b", [W, W])],
    {ok, Peer, Node} = peer:start_link(#{name => Name,
                                         args => [lists:flatten(A)
                                                  || A <- Args]}),
    %% the far node answers a ping: the connection is up before timing
    pong = net_adm:ping(Node),
    {Peer, Node}.

stop_far(Peer) ->
    unlink(Peer),
    catch peer:stop(Peer),
    ok.

%% remote_pingpong

rpp_pong(Seen, Bad) ->
    receive
        {ball, Seq, From} ->
            Bad1 = case Seq =:= Seen + 1 of true -> Bad; false -> Bad + 1 end,
            From ! {ball, Seq},
            rpp_pong(Seen + 1, Bad1);
        {stats, From} ->
            From ! {pong_stats, Seen, Bad}
    end.

run_remote_pingpong(Values) ->
    P = value("p", Values),
    Total = ?WARMUP + P,
    {Peer, Far} = start_far(Values),
    Pong = spawn(Far, ?MODULE, rpp_pong, [0, 0]),
    Hist = counters:new(?HIST_BUCKETS, [write_concurrency]),
    {T0, T1, Seen, Bad, Count, Max} = rpp_loop(Pong, 1, Total, Hist),
    Pong ! {stats, self()},
    {PongSeen, PongBad} = receive {pong_stats, S, B} -> {S, B} end,
    stop_far(Peer),
    Ok = case Seen =:= Total andalso Bad =:= 0 andalso Count =:= P andalso
             PongSeen =:= Total andalso PongBad =:= 0 of
             true -> true;
             false ->
                 failed("remote_pingpong",
                        "~b balls back (want ~b), ~b bad, ~b samples; the "
                        "far process saw ~b, ~b bad",
                        [Seen, Total, Bad, Count, PongSeen, PongBad])
         end,
    Q = fun(X) -> hist_quantile(Hist, Count, Max, X) end,
    #{ok => Ok, messages => 2 * P, items => P,
      seconds => (T1 - T0) / 1.0e9,
      extra => io_lib:format("p50_ns=~b p99_ns=~b p999_ns=~b max_ns=~b",
                             [Q(0.50), Q(0.99), Q(0.999), Max])}.

%% Returns {T0, T1, Seen, Bad, Count, Max}.
rpp_loop(Pong, 1, Total, Hist) ->
    rpp_loop(Pong, 1, Total, Hist, now_ns(), 0, 0, 0, 0, 0).

rpp_loop(_, Seq, Total, _, T1, T0, Bad, Count, Max, _) when Seq > Total ->
    {T0, T1, Seq - 1, Bad, Count, Max};
rpp_loop(Pong, Seq, Total, Hist, Sent, T0, Bad, Count, Max, _) ->
    Pong ! {ball, Seq, self()},
    receive
        {ball, Back} ->
            Now = now_ns(),
            Bad1 = case Back =:= Seq of true -> Bad; false -> Bad + 1 end,
            {T01, Count1, Max1} =
                if Seq =:= ?WARMUP -> {Now, Count, Max};
                   Seq > ?WARMUP ->
                       hist_record(Hist, Now - Sent),
                       {T0, Count + 1, max(Max, Now - Sent)};
                   true -> {T0, Count, Max}
                end,
            rpp_loop(Pong, Seq + 1, Total, Hist, Now, T01, Bad1, Count1,
                     Max1, 0)
    after 10000 ->
            io:format(standard_error, "remote_pingpong: no ball for 10 s "
                      "at ~b~n", [Seq]),
            {T0, Sent, Seq - 1, Bad + 1, Count, Max}
    end.

%% remote_fanin

%% The far process: Next is a map producer => next value expected.
rfi_sink(Producers) ->
    Next = maps:from_list([{I, 1} || I <- lists:seq(1, Producers)]),
    rfi_sink(Next, Producers, 0, 0, 0, 0).

rfi_sink(Next, Producers, Count, Sum, Bad, Fins) ->
    receive
        {int, I, N} ->
            case Next of
                #{I := N} ->
                    rfi_sink(Next#{I := N + 1}, Producers, Count + 1,
                             Sum + N, Bad, Fins);
                _ ->
                    rfi_sink(Next, Producers, Count + 1, Sum + N, Bad + 1,
                             Fins)
            end;
        {fin, Main} when Fins + 1 =:= Producers ->
            Main ! {sink_done, Count, Sum, Bad};
        {fin, _} ->
            rfi_sink(Next, Producers, Count, Sum, Bad, Fins + 1)
    end.

rfi_producer(Sink, I, M, Main) ->
    receive go -> ok end,
    rfi_send(Sink, I, 1, M),
    Sink ! {fin, Main}.

rfi_send(_, _, N, M) when N > M -> ok;
rfi_send(Sink, I, N, M) ->
    Sink ! {int, I, N},
    rfi_send(Sink, I, N + 1, M).

run_remote_fanin(Values) ->
    M = value("m", Values),
    Np = value("producers", Values),
    {Peer, Far} = start_far(Values),
    Sink = spawn(Far, ?MODULE, rfi_sink, [Np]),
    Main = self(),
    Prods = [spawn_link(fun() -> rfi_producer(Sink, I, M, Main) end)
             || I <- lists:seq(1, Np)],
    T0 = now_ns(),
    [Pid ! go || Pid <- Prods],
    Result = receive {sink_done, C, S, B} -> {C, S, B}
             after 600000 -> timeout
             end,
    T1 = now_ns(),
    stop_far(Peer),
    Want = Np * (M * (M + 1) div 2),
    Ok = case Result of
             {Np_M, Want, 0} when Np_M =:= Np * M -> true;
             {C1, S1, B1} ->
                 failed("remote_fanin",
                        "sink count=~b (want ~b) sum=~b (want ~b) bad or "
                        "out of order=~b", [C1, Np * M, S1, Want, B1]);
             timeout -> failed("remote_fanin", "no answer from the sink",
                               [])
         end,
    #{ok => Ok, messages => Np * M, items => Np * M,
      seconds => (T1 - T0) / 1.0e9}.

%% remote_ask

rask_echo(Seen, Bad) ->
    receive
        {req, From, Corr, V} ->
            From ! {rep, Corr, V + 1},
            rask_echo(Seen + 1, Bad);
        {stats, From} ->
            From ! {echo_stats, Seen, Bad};
        _ ->
            rask_echo(Seen, Bad + 1)
    end.

run_remote_ask(Values) ->
    N = value("n", Values),
    K = value("inflight", Values),
    {Peer, Far} = start_far(Values),
    Echo = spawn(Far, ?MODULE, rask_echo, [0, 0]),
    %% warm-up: corr ids above the measured ones, one at a time
    WBad = lists:foldl(
             fun(C, Acc) ->
                     Echo ! {req, self(), N + C, 3 * (N + C)},
                     receive {rep, Corr, V} when Corr =:= N + C ->
                             case V =:= 3 * (N + C) + 1 of
                                 true -> Acc;
                                 false -> Acc + 1
                             end
                     after 10000 -> Acc + 1
                     end
             end, 0, lists:seq(1, ?WARMUP)),
    Hist = counters:new(?HIST_BUCKETS, [write_concurrency]),
    Sent = ets:new(rask_sent, [set, private]),
    T0 = now_ns(),
    First = min(K, N),
    [rask_send(Echo, C, Sent) || C <- lists:seq(1, First)],
    {Done, Bad, Count, Max} = rask_loop(Echo, 1, First + 1, N, Sent, Hist,
                                        0, WBad, 0, 0),
    T1 = now_ns(),
    ets:delete(Sent),
    Echo ! {stats, self()},
    {EchoSeen, EchoBad} = receive {echo_stats, S, B} -> {S, B}
                          after 10000 -> {-1, -1}
                          end,
    stop_far(Peer),
    Ok = case Done =:= N andalso Bad =:= 0 andalso Count =:= N andalso
             EchoSeen =:= N + ?WARMUP andalso EchoBad =:= 0 of
             true -> true;
             false ->
                 failed("remote_ask",
                        "~b answers (want ~b), ~b bad, ~b samples; echo "
                        "answered ~b (want ~b), ~b bad",
                        [Done, N, Bad, Count, EchoSeen, N + ?WARMUP,
                         EchoBad])
         end,
    Q = fun(X) -> hist_quantile(Hist, Count, Max, X) end,
    #{ok => Ok, messages => 2 * N, items => N,
      seconds => (T1 - T0) / 1.0e9,
      extra => io_lib:format("p50_ns=~b p99_ns=~b p999_ns=~b max_ns=~b",
                             [Q(0.50), Q(0.99), Q(0.999), Max])}.

rask_send(Echo, Corr, Sent) ->
    ets:insert(Sent, {Corr, now_ns()}),
    Echo ! {req, self(), Corr, 3 * Corr}.

%% Returns {Done, Bad, Count, Max}.
rask_loop(_, Head, _, N, _, _, Done, Bad, Count, Max) when Head > N ->
    {Done, Bad, Count, Max};
rask_loop(Echo, Head, Next, N, Sent, Hist, Done, Bad, Count, Max) ->
    receive
        {rep, Head, V} ->
            Now = now_ns(),
            [{Head, T}] = ets:take(Sent, Head),
            hist_record(Hist, Now - T),
            Bad1 = case V =:= 3 * Head + 1 of true -> Bad; false -> Bad + 1 end,
            Next1 = case Next =< N of
                        true -> rask_send(Echo, Next, Sent), Next + 1;
                        false -> Next
                    end,
            rask_loop(Echo, Head + 1, Next1, N, Sent, Hist, Done + 1, Bad1,
                      Count + 1, max(Max, Now - T))
    after 10000 ->
            io:format(standard_error, "remote_ask: no answer for 10 s at "
                      "~b~n", [Head]),
            {Done, Bad + 1, Count, Max}
    end.

%% node_down

nd_target(From) ->
    register(nd_target, self()),
    From ! {nd_registered, self()},
    receive stop -> ok end.

run_node_down(Values) ->
    K = value("kills", Values),
    Tick = value("ticktime", Values),
    case node() of
        nonode@nohost ->
            io:format(standard_error,
                      "troupe-peer-erlang: node_down needs a distributed "
                      "node (start it through troupe-peer-erlang)~n", []),
            halt(2);
        _ -> ok
    end,
    case Tick =:= 0 orelse net_kernel:get_net_ticktime() =:= Tick of
        true -> ok;
        false ->
            io:format(standard_error,
                      "troupe-peer-erlang: --ticktime ~b but net_ticktime "
                      "is ~p (start it through troupe-peer-erlang)~n",
                      [Tick, net_kernel:get_net_ticktime()]),
            halt(2)
    end,
    Sh = open_port({spawn_executable, "/bin/sh"}, [{args, ["-s"]}, binary,
                                                   use_stdio, exit_status]),
    Hist = counters:new(?HIST_BUCKETS, [write_concurrency]),
    T0 = now_ns(),
    {Downs, Bad, Count, Max, Reasons} =
        nd_rounds(K, Tick, Sh, Hist, 0, 0, 0, 0, #{}),
    T1 = now_ns(),
    %% a second 'DOWN' for a monitor would come now, if ever
    Late = nd_flush(2000, 0),
    port_close(Sh),
    Ok = case Downs =:= K andalso Bad =:= 0 andalso Late =:= 0 andalso
             Count =:= K of
             true -> true;
             false ->
                 failed("node_down",
                        "~b DOWNs (want ~b, reason noconnection), ~b bad, "
                        "~b late or twice; reasons seen: ~p",
                        [Downs, K, Bad, Late, Reasons])
         end,
    Q = fun(X) -> hist_quantile(Hist, Count, Max, X) end,
    Mean = case Count of 0 -> 0; _ -> nd_mean(Hist, Count) end,
    #{ok => Ok, messages => K, items => K,
      seconds => (T1 - T0) / 1.0e9,
      extra => io_lib:format("p50_ns=~b p99_ns=~b max_ns=~b mean_ns=~b "
                             "downs=~b bad=~b net_ticktime=~b",
                             [Q(0.50), Q(0.99), Max, Mean, Downs, Bad,
                              net_kernel:get_net_ticktime()])}.

%% The mean from the histogram's buckets (upper bounds): an estimate,
%% at most 6.25 % high, like the percentiles.
nd_mean(Hist, Count) ->
    Sum = lists:foldl(fun(I, Acc) ->
                              Acc + counters:get(Hist, I + 1) * hist_upper(I)
                      end, 0, lists:seq(0, ?HIST_BUCKETS - 1)),
    Sum div Count.

nd_rounds(0, _, _, _, Downs, Bad, Count, Max, Reasons) ->
    {Downs, Bad, Count, Max, Reasons};
nd_rounds(N, Tick, Sh, Hist, Downs, Bad, Count, Max, Reasons) ->
    Name = list_to_atom("trp_nd_" ++ os:getpid() ++ "_" ++
                            integer_to_list(erlang:unique_integer([positive]))),
    W = erlang:system_info(schedulers_online),
    Ebin = filename:dirname(code:which(?MODULE)),
    TickArgs = case Tick of
                   0 -> [];
                   _ -> ["-kernel", "net_ticktime", integer_to_list(Tick)]
               end,
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-pa", Ebin, "+S", lists:flatten(io_lib:format("~b:~b", [W, W]))]
        ++ TickArgs,
    {ok, Peer, Node} = peer:start(#{name => Name, args => Args}),
    pong = net_adm:ping(Node),
    OsPid = erpc:call(Node, os, getpid, []),
    Me = self(),
    _ = spawn(Node, ?MODULE, nd_target, [Me]),
    receive {nd_registered, _} -> ok after 15000 -> error(no_target) end,
    Ref = erlang:monitor(process, {nd_target, Node}),
    T0 = now_ns(),
    true = port_command(Sh, ["kill -9 ", OsPid, "\n"]),
    Result = receive
                 {'DOWN', Ref, process, {nd_target, Node}, Reason} ->
                     {Reason, now_ns() - T0}
             after 120000 -> timeout
             end,
    catch peer:stop(Peer),
    case Result of
        {noconnection, Lat} ->
            hist_record(Hist, Lat),
            nd_rounds(N - 1, Tick, Sh, Hist, Downs + 1, Bad, Count + 1,
                      max(Max, Lat), Reasons#{noconnection => true});
        {Other, _} ->
            nd_rounds(N - 1, Tick, Sh, Hist, Downs + 1, Bad + 1, Count, Max,
                      Reasons#{Other => true});
        timeout ->
            io:format(standard_error, "node_down: no DOWN within 120 s~n",
                      []),
            {Downs, Bad + 1, Count, Max, Reasons}
    end.

nd_flush(Ms, Late) ->
    receive
        {'DOWN', _, _, _, _} -> nd_flush(Ms, Late + 1);
        {Port, {exit_status, _}} when is_port(Port) -> nd_flush(Ms, Late)
    after Ms -> Late
    end.
