cd /work/heldout2
./run_one.sh n01 n01_slots_callable.py:SlotsBN --convention torch &
./run_one.sh n02 n02_sequential_container.py:model --convention torch &
./run_one.sh n03 n03_variable_graph.py:BatchNorm --convention torch &
./run_one.sh n04 n04_generator_cache.py &
wait
./run_one.sh n05 n05_einsum_keepdims.py &
./run_one.sh n06 n06_per_sample_list.py:ListBatchNorm --convention torch &
./run_one.sh n07 n07_keras_decay_stack.py:StackedBN --convention keras --axis -1 &
./run_one.sh n08 n08_export_inference.py:TrainBN --convention torch &
wait
./run_one.sh n09 n09_namedtuple_workspace.py &
./run_one.sh n10 n10_affine_rows.py:AffineRowsBN --convention torch &
./run_one.sh n11 n11_decay_tracked.py:TrackedBatchNorm --convention cumulative &
./run_one.sh n12 n12_mode_enum.py:EnumModeBN --convention torch &
wait
./run_one.sh n13 n13_loop_kernel.py:bn_loop &
./run_one.sh n14 n14_sum_sumsq_stats.py &
./run_one.sh n15 n15_ctx_function.py:BatchNorm --convention torch &
./run_one.sh n16 n16_nhwc_tiles.py:nhwc_bn --axis -1 &
wait
