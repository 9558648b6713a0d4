#!/bin/bash
# usage: tools/runall.sh ; runs every manifest row once with the bncheck on PATH, logs to
# runs/NN.log (in this folder; not kept in git)
B=${BNCHECK:-bncheck}
cd "$(dirname "$0")/.."
mkdir -p runs
i=0
while IFS='|' read -r target flags; do
  i=$((i+1)); n=$(printf %02d $i)
  start=$(date +%s)
  timeout 900 $B verify $target $flags > runs/$n.log 2>&1; rc=$?
  end=$(date +%s)
  echo "$n rc=$rc t=$((end-start))s $target $flags | $(tail -1 runs/$n.log) | $(grep '^  - name:' runs/$n.log | tr '\n' ' ')"
done <<'LIST'
my_layers.py|
norms_v2.py|
rmsnorm.py:RMSNorm|
utils_fast.py:InstanceNorm2d|
transformer_layernorm.py:LayerNorm|
ops.py|--norm layer
ln_onepass_f32.py:layernorm|
gn_onepass_clamp.py:spatial_groupnorm|
ln_onepass_upcast.py:layernorm|--dtypes float32
ln_onepass_upcast.py:layernorm|--dtypes float64
ln_npvar_f32.py:layernorm|--dtypes float32
ln_eps_outside.py:layernorm|
gn_backward_nomean.py:spatial_groupnorm|
ln_batch_axis.py:layernorm|
rms_subtract_mean.py:RMSNorm|
slow_layernorm.py:layernorm|--timeout 1
hang_after_calls.py:layernorm|--timeout 2
wrong_then_slow.py:layernorm|--timeout 1
mixed_bn_ln.py|
mixed_bn_ln.py:layernorm|
LIST
