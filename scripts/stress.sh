#!/usr/bin/env bash
# stress.sh: prove the test suite passes on a busy machine. It runs N copies
# of the whole suite at the same time, beside M busy loops that each keep a
# CPU core busy, for R rounds, then prints passes and failures per test.
#
#   scripts/stress.sh [package patterns...]      (default: every module of go.work)
#   N=3 M=4 R=5 scripts/stress.sh                (the defaults)
#   make stress-test N=2 M=2 R=1
#
# Each copy runs `go test -json` with its own TMPDIR (so t.TempDir and the
# go tool never share a directory); memcached ports need nothing, since
# msmtest starts every memcached on a free port the kernel hands out. CI is
# set, so a missing memcached fails instead of skipping. STRESS_TESTFLAGS
# replaces the go test flags (default: those of make test, with a longer
# -timeout). The logs of every copy stay in the work directory printed at
# the start when a copy failed (STRESS_KEEP=1 keeps them anyway). The exit
# status is 0 only when every copy of every round passed.
set -uo pipefail
cd "$(dirname "$0")/.."

N=${N:-3}
M=${M:-4}
R=${R:-5}
FLAGS=${STRESS_TESTFLAGS:--race -count=1 -timeout 20m -parallel 8}
for v in N M R; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || { [ "$v" != M ] && [ "${!v}" -lt 1 ]; }; then
    echo "stress: $v must be a whole number (N and R at least 1), got '${!v}'" >&2
    exit 2
  fi
done
if [ $# -gt 0 ]; then
  pkgs=("$@")
else
  mapfile -t pkgs < <(go list -m -f '{{.Path}}/...')
fi
export CI=true

work=$(mktemp -d "${TMPDIR:-/tmp}/gomsm-stress.XXXXXX")
echo "stress: $N suites at once beside $M busy loops, $R rounds; logs in $work"

busy=()
suites=()
cleanup() {
  for p in "${suites[@]}"; do kill -- "$p" 2>/dev/null; done
  for p in "${busy[@]}"; do kill -- "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Build every test binary once, so that the rounds measure tests, not the
# compiler (go test links from the build cache afterwards).
echo "stress: building the tests"
if ! go test $FLAGS -run '^$' "${pkgs[@]}" >"$work/build.log" 2>&1; then
  cat "$work/build.log"
  echo "stress: the tests do not build" >&2
  exit 1
fi

for ((i = 0; i < M; i++)); do
  (while :; do :; done) &
  busy+=($!)
done

start=$SECONDS
green=0
for ((r = 1; r <= R; r++)); do
  suites=()
  for ((c = 1; c <= N; c++)); do
    dir="$work/r$r-c$c"
    mkdir -p "$dir/tmp"
    TMPDIR="$dir/tmp" go test $FLAGS -json "${pkgs[@]}" >"$dir/test.json" 2>"$dir/stderr" &
    suites+=($!)
  done
  line="stress: round $r/$R:"
  for ((c = 1; c <= N; c++)); do
    if wait "${suites[c - 1]}"; then
      green=$((green + 1))
      line+=" pass"
    else
      line+=" FAIL"
    fi
  done
  suites=()
  echo "$line ($((SECONDS - start))s so far)"
done
for p in "${busy[@]}"; do kill -- "$p" 2>/dev/null; done
busy=()

# Tally the test2json events: one pass, fail or skip per test and copy. A
# package that fails outside any test (build error, panic, timeout) counts
# as a failure of "<package> (package)".
cat "$work"/r*-c*/test.json | awk '
  function field(name,   m) {
    if (match($0, "\"" name "\":\"[^\"]*\"")) {
      m = substr($0, RSTART, RLENGTH)
      sub("^\"" name "\":\"", "", m)
      sub("\"$", "", m)
      return m
    }
    return ""
  }
  {
    action = field("Action")
    if (action != "pass" && action != "fail" && action != "skip") next
    pkg = field("Package"); test = field("Test")
    sub("^github.com/gomsm/msm/", "", pkg)
    if (test == "") {
      if (action != "fail") next
      test = "(package)"
    }
    key = pkg " " test
    count[key, action]++
    seen[key] = 1
  }
  END {
    for (k in seen) {
      p = count[k, "pass"] + 0; f = count[k, "fail"] + 0; s = count[k, "skip"] + 0
      split(k, parts, " ")
      # Subtests only when they failed: the table stays readable.
      if (index(parts[2], "/") && f == 0) continue
      printf "%-26s %-64s %5d %5d %5d\n", parts[1], parts[2], p, f, s
    }
  }' | sort -k1,1 -k2,2 >"$work/table.txt"

printf '%-26s %-64s %5s %5s %5s\n' package test pass fail skip
cat "$work/table.txt"
fails=$(awk '$4 > 0' "$work/table.txt")
total=$((N * R))
echo
echo "stress: $green/$total suites green ($N at once beside $M busy loops, $R rounds, $((SECONDS - start))s)"
if [ -n "$fails" ]; then
  echo "stress: tests that failed at least once:"
  echo "$fails"
  echo "stress: details in $work/r*-c*/test.json (go tool test2json output)"
fi
if [ "$green" -ne "$total" ]; then
  exit 1
fi
[ -n "${STRESS_KEEP:-}" ] || rm -rf "$work"
exit 0
