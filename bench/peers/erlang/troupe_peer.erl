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
%% Timing: from the go to the driver / watcher (after setup) to the done
%% message it sends when the last message has been processed.
-module(troupe_peer).
-behaviour(supervisor).

-export([main/0, init/1, child_start/2]).
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
      fun run_down/1}].

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
