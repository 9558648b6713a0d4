#!/bin/bash
# usage: run_one.sh label spec [options...]
cd /work/heldout2
label=$1; shift
start=$(date -u +%H:%M:%S)
timeout 180 /work/main/.venv/bin/bncheck verify "$@" > runs/$label.out 2> runs/$label.err
rc=$?
end=$(date -u +%H:%M:%S)
commit=$(git -C /work/main log -1 --format=%h)
echo "$label|$start-$end|$commit|rc=$rc|$*|$(tail -1 runs/$label.out)" >> runs/index.txt
