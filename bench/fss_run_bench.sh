#!/bin/sh
# SPDX-License-Identifier: MIT
# fss run against the same work without FSS, interleaved in one run: creating
# N small files, rm -rf of an N-file tree (saving included), make -j2 of a
# generated 40-file C project. Prints each round's ratio and the median.
#   bench/fss_run_bench.sh FSS [N] [ROUNDS] [DIR] [WORKS]
# DIR: where the trees go; WORKS: a subset of "create rmrf make".
set -eu
FSS=$1
N=${2:-10000}
ROUNDS=${3:-3}
BASE=$(mktemp -d "${4:-${TMPDIR:-/tmp}}/fss-run-bench.XXXXXX")
trap 'rm -rf "$BASE"' EXIT

now() { date +%s.%N; }
fill() { mkdir -p "$1/t" && (cd "$1/t" && seq "$N" | sed 's/^/f/' | xargs touch); }
gen() {
  mkdir -p "$1/proj" && cd "$1/proj" && objs= && i=0
  while [ $i -lt 40 ]; do echo "int f$i(void) { return $i; }" > f$i.c; objs="$objs f$i.o"; i=$((i + 1)); done
  echo "int main(void) { return 0; }" > main.c
  printf 'prog: main.o %s\n\tcc -o prog main.o %s\n%%.o: %%.c\n\tcc -c -o $@ $<\n' "$objs" "$objs" > Makefile
  cd - > /dev/null
}
# time_of MODE DIR COMMAND: seconds; MODE "fss" runs it under fss run.
time_of() {
  mode=$1 dir=$2
  shift 2
  t0=$(now)
  if [ "$mode" = fss ]; then (cd "$dir" && "$FSS" run --root "$dir" -- sh -c "$*" > /dev/null)
  else (cd "$dir" && sh -c "$*" > /dev/null); fi
  t1=$(now)
  awk "BEGIN { print $t1 - $t0 }"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

for work in ${5:-create rmrf make}; do
  ratios=""
  r=0
  while [ $r -lt "$ROUNDS" ]; do
    for mode in plain fss; do
      d="$BASE/$work.$mode.$r"
      mkdir -p "$d"
      case $work in
        create) t=$(time_of $mode "$d" "seq $N | sed s/^/f/ | xargs touch") ;;
        rmrf) fill "$d"; t=$(time_of $mode "$d" "rm -rf t") ;;
        make) gen "$d"; t=$(time_of $mode "$d" "cd proj && make -s -j2") ;;
      esac
      eval "t_$mode=$t"
      rm -rf "$d"
    done
    ratio=$(awk "BEGIN { print $t_fss / $t_plain }")
    printf '%s round %d: plain %.3f s, fss run %.3f s, ratio %.2f\n' "$work" "$r" "$t_plain" "$t_fss" "$ratio"
    ratios="$ratios $ratio"
    r=$((r + 1))
  done
  printf '%s: median ratio %.2f\n' "$work" "$(echo $ratios | tr ' ' '\n' | median)"
done
