# bench/lib.sh - shell helpers shared by bench/ab and bench/scaling
# (sourced, not run).
#
#   spec_name SPEC    the workload of W+NAME=VALUE+...
#   spec_args SPEC    its options: --NAME=VALUE ...
#   quick_sizes SPEC  bench/compare's --quick sizes of its workload
#   unit SPEC         what the workload's rate= counts
#   median            the median of the numbers on stdin (one a line)
#   human RATE        1.23 M, 4.5 k, ...

spec_name() { echo "${1%%+*}"; }
spec_args() {
	local rest
	case $1 in *+*) rest=${1#*+} ;; *) return 0 ;; esac
	tr '+' '\n' <<<"$rest" | sed 's/^/--/' | tr '\n' ' '
}
quick_sizes() {
	case $(spec_name "$1") in
	storm|storm_private) echo "--counters 1000 --n 1000" ;;
	pingpong) echo "--p 100000" ;;
	ring) echo "--actors 1000 --t 1000000" ;;
	fanin) echo "--m 250000" ;;
	spawn) echo "--n 100000" ;;
	pubsub) echo "--m 10000" ;;
	skynet) echo "--depth 5" ;;
	idle) echo "--n 100000" ;;
	esac
}
unit() {
	case $(spec_name "$1") in
	pingpong) echo "round trips/s" ;;
	ring) echo "hops/s" ;;
	spawn|skynet|idle) echo "actors/s" ;;
	pubsub) echo "deliveries/s" ;;
	*) echo "msg/s" ;;
	esac
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "";
	else if (NR % 2) print v[(NR + 1) / 2];
	else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
human() { awk -v r="$1" 'BEGIN { if (r >= 1e9) printf "%.2f G", r / 1e9;
	else if (r >= 1e6) printf "%.2f M", r / 1e6;
	else if (r >= 1e3) printf "%.1f k", r / 1e3; else printf "%.0f", r }'; }
