#!/usr/bin/env bash
# Telemetry overhead, measured in one run: builds pkg/workers' benchmarks of
# BASE (default main) and of the working tree, then alternates them ROUNDS
# times (default 6) so machine load hits both alike, and prints the median
# per benchmark.
#
#   scripts/bench-telemetry.sh [BASE] [ROUNDS]
#
# "old" is BASE's BenchmarkPipeline/workers=4 and BenchmarkPipelineTracing;
# "new" is the same two (metrics off: no observer installed) and
# BenchmarkPipelineMetrics (metrics; tracing+metrics).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-main}
rounds=${2:-6}
tmp=$(mktemp -d -t plba-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git -C "$root" archive "$base" | tar -x -C "$tmp/base"
(cd "$tmp/base" && go test -c -o "$tmp/old.test" ./pkg/workers/)
(cd "$root" && go test -c -o "$tmp/new.test" ./pkg/workers/)
b() { "$tmp/$1.test" -test.run '^$' -test.bench "$2" -test.benchmem -test.benchtime 300000x | grep '^Benchmark' | sed "s/^/$1 /"; }
for _ in $(seq 1 "$rounds"); do
	b old 'BenchmarkPipeline$/workers=4$'
	b new 'BenchmarkPipeline$/workers=4$'
	b old 'BenchmarkPipelineTracing$'
	b new 'BenchmarkPipelineTracing$'
	b new 'BenchmarkPipelineMetrics$'
done >"$tmp/out.txt"
# Per benchmark: the runs' ns/op sorted, the median printed (mawk has no
# sort of its own).
awk '{ k = $1 " " $2; sub(/-[0-9]+$/, "", k); gsub(/ /, ":", k); print k, $4, $6 " B/op " $8 " allocs/op" }' "$tmp/out.txt" |
	sort -k1,1 -k2,2n |
	awk '{ if ($1 != k) { if (k != "") out(); k = $1; n = 0; runs = "" } n++; x[n] = $2; runs = runs " " $2; al = $3 " " $4 " " $5 " " $6 }
	function out() { gsub(/:/, " ", k); printf "%-50s median %7.0f ns/op  (sorted:%s)  %s\n", k, x[int((n + 1) / 2)], runs, al }
	END { out() }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
