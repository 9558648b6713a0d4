#!/bin/bash
# Run bncheck on every corpus target as a user would; JSON and text kept in selfcheck/results/.
# BNCHECK names the command (default: bncheck on the PATH); ONLY="h01 h02" limits the run.
cd "$(dirname "$0")/.." || exit 1
mkdir -p selfcheck/results
BN=${BNCHECK:-bncheck}
while IFS=$'\t' read -r key spec opts; do
  [ -n "$ONLY" ] && [[ " $ONLY " != *" $key "* ]] && continue
  t0=$(date +%s.%N)
  timeout -s KILL 120 $BN verify "$spec" $opts --json > selfcheck/results/$key.json 2> selfcheck/results/$key.json.err
  rc=$?
  t1=$(date +%s.%N)
  timeout -s KILL 120 $BN verify "$spec" $opts > selfcheck/results/$key.txt 2>&1
  rc2=$?
  printf "%s\t%s\t%s\t%.1f\t%s\n" "$key" "$rc" "$rc2" "$(echo "$t1 - $t0" | bc)" "$spec $opts" | tee -a selfcheck/results/summary.tsv
done < selfcheck/targets.tsv
