#!/usr/bin/env escript
%% The erlang scenario's two distributed Erlang nodes (native-bench/scenarios/erlang.ts starts
%% them on loopback with a private epmd: ERL_EPMD_PORT). Compiled on start (-mode(compile)).
%%
%%   bench.escript receiver <NodeName> <Cookie>
%%       prints READY once its sinks are registered; runs until stdin closes.
%%   bench.escript p2p <NodeName> <Cookie> <Peer> <WarmupMs> <DurationMs> <MessageBytes> <LatencyFile>
%%   bench.escript hol <NodeName> <Cookie> <Peer> <WarmupMs> <DurationMs> <GpsRate> <BulkBytes> <LatencyFile>
%%       drive the load against the receiver and print one RESULT line of JSON.
%%
%% Records mirror the partisan-ts GPS record (same fields); the time stamp is
%% os:system_time(microsecond), the clock Node's performance.timeOrigin + now() follows.
-mode(compile).

main(["receiver", Name, Cookie]) ->
    start_dist(Name, Cookie),
    register(ctl, spawn(fun() -> ctl(#{}) end)),
    io:format("READY~n"),
    %% Until the orchestrator closes our stdin.
    _ = io:get_line(""),
    halt(0);
main(["p2p", Name, Cookie, Peer, Warmup, Duration, Size, File]) ->
    start_dist(Name, Cookie),
    P = list_to_atom(Peer),
    true = net_kernel:connect_node(P),
    {From, To} = window(list_to_integer(Warmup), list_to_integer(Duration)),
    {ctl, P} ! {arm, self(), From, To, File, 8},
    receive armed -> ok end,
    io:format("WINDOW ~b ~b~n", [From, To]),
    Body = padding(list_to_integer(Size)),
    Sent = flood({sink, P}, Body, To div 1000, 0, 0),
    timer:sleep(300),
    Report = report(P),
    Rec = gps(1, 1, os:system_time(microsecond), Body),
    result([{sent, Sent}, {termBytes, byte_size(term_to_binary(Rec))} | Report]),
    halt(0);
main(["hol", Name, Cookie, Peer, Warmup, Duration, Rate, Bulk, File]) ->
    start_dist(Name, Cookie),
    P = list_to_atom(Peer),
    true = net_kernel:connect_node(P),
    {From, To} = window(list_to_integer(Warmup), list_to_integer(Duration)),
    {ctl, P} ! {arm, self(), From, To, File, 1},
    receive armed -> ok end,
    io:format("WINDOW ~b ~b~n", [From, To]),
    Self = self(),
    BulkBytes = list_to_integer(Bulk),
    spawn_link(fun() -> Self ! {gps_sent, paced({gps, P}, list_to_integer(Rate), os:system_time(microsecond), To, 0)} end),
    spawn_link(fun() -> Self ! {bulk_sent, case BulkBytes of 0 -> 0; _ -> bulk({bulk, P}, binary:copy(<<7>>, BulkBytes), To div 1000, 0) end} end),
    GpsSent = receive {gps_sent, G} -> G end,
    BulkSent = receive {bulk_sent, B} -> B end,
    timer:sleep(300),
    Report = report(P),
    result([{gpsSent, GpsSent}, {bulkSent, BulkSent} | Report]),
    halt(0).

start_dist(Name, Cookie) ->
    {ok, _} = net_kernel:start([list_to_atom(Name), longnames]),
    erlang:set_cookie(node(), list_to_atom(Cookie)).

window(Warmup, Duration) ->
    Now = os:system_time(microsecond),
    From = Now + Warmup * 1000,
    {From, From + Duration * 1000}.

padding(Size) when Size =< 100 -> <<>>;
padding(Size) -> binary:copy(<<0>>, Size - 100).

gps(V, Seq, Ts, Body) ->
    {gps, <<"veh-", (integer_to_binary(V))/binary>>, Ts, 48.1 + (V rem 1000) * 1.0e-4, 11.5 + (V rem 997) * 1.0e-4,
     13.4, float((Seq * 7) rem 360), 512.25, 120000 + Seq * 0.013, <<"trip-2026-11-25-00001">>, 3, 9, 0, Seq, Body}.

%% Send as fast as the distribution's busy-port backpressure lets us; check the clock every 1000.
flood(Dest, Body, ToMs, Seq, Sent) ->
    case Seq rem 1000 of
        0 ->
            case os:system_time(millisecond) >= ToMs of
                true -> Sent;
                false -> Dest ! gps(Seq, Seq, os:system_time(microsecond), Body), flood(Dest, Body, ToMs, Seq + 1, Sent + 1)
            end;
        _ -> Dest ! gps(Seq, Seq, os:system_time(microsecond), Body), flood(Dest, Body, ToMs, Seq + 1, Sent + 1)
    end.

%% Rate msgs/s in 5 ms ticks, drift-free.
paced(Dest, Rate, Start, To, Sent) ->
    Now = os:system_time(microsecond),
    case Now >= To of
        true -> Sent;
        false ->
            Due = ((Now - Start) * Rate) div 1000000 - Sent,
            [Dest ! gps(Sent + I, Sent + I, os:system_time(microsecond), <<>>) || I <- lists:seq(1, Due), Due > 0],
            timer:sleep(5),
            paced(Dest, Rate, Start, To, Sent + max(0, Due))
    end.

bulk(Dest, Bin, ToMs, Sent) ->
    case os:system_time(millisecond) >= ToMs of
        true -> Sent;
        false -> Dest ! {bulk, os:system_time(microsecond), Bin}, bulk(Dest, Bin, ToMs, Sent + 1)
    end.

report(P) ->
    {ctl, P} ! {report, self()},
    receive {report, R} -> R after 30000 -> [{error, <<"no report">>}] end.

result(Props) ->
    Fields = [io_lib:format("\"~s\":~s", [K, value(V)]) || {K, V} <- Props],
    io:format("RESULT {~s}~n", [lists:join(",", Fields)]).

value(V) when is_integer(V) -> integer_to_list(V);
value(V) when is_float(V) -> float_to_list(V, [{decimals, 3}]);
value(V) when is_binary(V) -> [$", V, $"].

%% ---- receiver ----

ctl(_) ->
    receive
        {arm, From, WFrom, WTo, File, Every} ->
            persistent_term:put(latency_file, File),
            [begin
                 case whereis(N) of
                     undefined -> ok;
                     Old -> unregister(N), exit(Old, kill)
                 end,
                 register(N, spawn(fun() -> sink(#{from => WFrom, to => WTo, every => Every, k => 0, total => 0, counted => 0, bytes => 0, lat => []}) end))
             end || N <- [sink, gps, bulk]],
            From ! armed;
        {report, From} ->
            From ! {report, collect()}
    end,
    ctl(#{}).

collect() ->
    Parts = [begin
                 Pid = whereis(N),
                 Pid ! {get, self()},
                 receive {got, M} -> {N, M} after 30000 -> {N, #{total => 0, counted => 0, bytes => 0, lat => []}} end
             end || N <- [sink, gps, bulk]],
    #{sink := S, gps := G, bulk := B} = maps:from_list(Parts),
    Lat = maps:get(lat, S) ++ maps:get(lat, G),
    file:write_file(get_file(), [[integer_to_list(L), $\n] || L <- Lat]),
    [{received, maps:get(total, S)}, {counted, maps:get(counted, S)}, {gpsReceived, maps:get(total, G)},
     {gpsCounted, maps:get(counted, G)}, {bulkReceived, maps:get(total, B)}, {bulkBytes, maps:get(bytes, B)}].

get_file() -> persistent_term:get(latency_file, "/dev/null").

sink(St = #{from := From, to := To, every := Every}) ->
    receive
        {get, Who} -> Who ! {got, St}, sink(St);
        Msg ->
            Now = os:system_time(microsecond),
            {Ts, Bytes} = case Msg of
                              {bulk, T, Bin} -> {T, byte_size(Bin)};
                              _ -> {element(3, Msg), 0}
                          end,
            St1 = St#{total := maps:get(total, St) + 1},
            case Now >= From andalso Now < To of
                false -> sink(St1);
                true ->
                    K = maps:get(k, St1) + 1,
                    St2 = St1#{counted := maps:get(counted, St1) + 1, bytes := maps:get(bytes, St1) + Bytes},
                    case K >= Every of
                        true -> sink(St2#{k := 0, lat := [Now - Ts | maps:get(lat, St2)]});
                        false -> sink(St2#{k := K})
                    end
            end
    end.
