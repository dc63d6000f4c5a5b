#!/bin/sh
# bench/store/run.sh [BUILDDIR] — the store's three benchmarks (issue 3) on
# the SpamAssassin corpus, next to their peers, with the ratios and targets:
#   1. segment bytes vs raw, vs zstd -3, zstd -19 and gzip -6 of the whole
#      concatenated corpus (target <= 0.25 x raw, aiming at 0.21);
#   2. durable appends with 1 and 16 submitters vs one loop doing
#      zstd -3 + encrypt + write without sync (the ceiling) and the same loop
#      with an fdatasync per message (the naive durable writer)
#      (target at 16: >= 0.7 x the ceiling and >= 2 x the naive writer);
#   3. single-message reads, warm cache, p50/p99 (target p99 < 2 ms).
# Each timed figure is the median of RUNS runs (default 3).  Copy the output
# into bench/RESULTS.md with the date, machine and commit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
bin=$build/bench/store/bench_store
runs=${RUNS:-3}
[ -x "$bin" ] || make -C "$build" bench/store/bench_store >/dev/null
corpus=$(python3 "$top/bench/corpus/spamassassin.py")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vellum-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

field() { # field KEY LINE
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fresh() { rm -rf "$tmp/d"; mkdir -p "$tmp/d"; echo "$tmp/d"; }

echo "# machine: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "# commit: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ)"
cat "$corpus"/*.eml >"$tmp/all"
raw=$(wc -c <"$tmp/all")
z3=$(zstd -q -3 -c "$tmp/all" | wc -c)
z19=$(zstd -q -19 -c "$tmp/all" | wc -c)
gz6=$(gzip -6 -c "$tmp/all" | wc -c)
rm -f "$tmp/all"

echo "## 1. size"
line=$("$bin" size "$(fresh)" "$corpus")
echo "$line"
packed=$(field packed "$line")
appended=$(field appended "$line")
awk -v r="$raw" -v p="$packed" -v a="$appended" -v z3="$z3" -v z19="$z19" -v g="$gz6" 'BEGIN {
	printf "raw %d bytes\n", r
	printf "vellum sealed (packed): %.4f x raw   (as appended, before sealing: %.4f)\n", p / r, a / r
	printf "zstd -3 of the whole corpus: %.4f   zstd -19: %.4f   gzip -6: %.4f\n", z3 / r, z19 / r, g / r
	printf "vellum / zstd -3: %.3f   vellum / gzip -6: %.3f\n", p / z3, p / g
	printf "target <= 0.25 x raw (aim 0.21): %s\n", ((p / r <= 0.25) ? "met" : "NOT met")
}'

echo "## 2. append throughput"
ceil=$(for i in $(seq "$runs"); do field msgs_per_s "$("$bin" ceiling "$corpus" "$tmp")"; done | median)
naive=$(for i in $(seq "$runs"); do field msgs_per_s "$("$bin" naive "$(fresh)" "$corpus")"; done | median)
a1=$(for i in $(seq "$runs"); do field msgs_per_s "$("$bin" append "$(fresh)" "$corpus" 1)"; done | median)
a16=$(for i in $(seq "$runs"); do field msgs_per_s "$("$bin" append "$(fresh)" "$corpus" 16)"; done | median)
awk -v c="$ceil" -v n="$naive" -v a1="$a1" -v a16="$a16" 'BEGIN {
	printf "ceiling (compress+encrypt+write, no sync): %d msgs/s\n", c
	printf "naive (the same + fdatasync per message):  %d msgs/s\n", n
	printf "vellum durable, 1 submitter:   %d msgs/s = %.2f x ceiling, %.2f x naive\n", a1, a1 / c, a1 / n
	printf "vellum durable, 16 submitters: %d msgs/s = %.2f x ceiling, %.2f x naive\n", a16, a16 / c, a16 / n
	printf "target at 16: >= 0.7 x ceiling: %s; >= 2 x naive: %s\n", ((a16 / c >= 0.7) ? "met" : "NOT met"), ((a16 / n >= 2) ? "met" : "NOT met")
}'

echo "## 3. single-message reads (warm cache)"
"$bin" read "$(fresh)" "$corpus" | while read -r l; do
	echo "$l"
	p99=$(field p99_us "$l")
	echo "  target p99 < 2000 us: $([ "$p99" -lt 2000 ] && echo met || echo NOT met)"
done
