#!/usr/bin/env bash
# End-to-end demo on bundled inputs (recorded with torch 2.13 by tests/data/record_traces.py).
# Everything is written under out/demo; the summary with tables and plots is out/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
D=tests/data
O=out/demo
rm -rf "$O" out/report.md && mkdir -p "$O"

echo "== 1. chakra-convert: PyTorch Execution Traces (+Kineto durations) -> Chakra ETs"
chakra-convert pytorch $D/mlp.et.json --kineto $D/mlp.kineto.json -o $O/et/mlp
chakra-convert pytorch $D/transformer.et.json --kineto $D/transformer.kineto.json -o $O/et/transformer -q
chakra-convert pytorch $D/gloo.rank0.et.json $D/gloo.rank1.et.json \
    --kineto $D/gloo.rank0.kineto.json --kineto $D/gloo.rank1.kineto.json -o $O/et/gloo

echo "== 2. validate (deps, cycles, ids; collectives and send/recv matched across ranks)"
for t in mlp transformer gloo; do chakra-convert validate $O/et/$t; done

echo "== 3. inspect the 2-rank gloo trace"
chakra-convert inspect $O/et/gloo -o $O/gloo.inspect.json

echo "== 4. lossless ET -> JSON -> ET"
chakra-convert to-json $O/et/gloo.0.et -o $O/gloo.0.json -q
chakra-convert from-json $O/gloo.0.json -o $O/gloo.0.roundtrip.et -q
cmp $O/et/gloo.0.et $O/gloo.0.roundtrip.et
echo "round trip: byte-identical"

echo "== 5. astra-run: the 2-rank gloo trace, and a 16-NPU hybrid-parallel workload on a 4x4 2-D torus"
C=examples/configs/astra-run
printf 'topology: [ Ring ]\nnpus_count: [ 2 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n' > $O/ring2.yml
astra-run --workload $O/et/gloo --system $C/ring_1d.json --network $O/ring2.yml -o $O/gloo.sim.json -q
chakra-convert text tests/data/hybrid.txt -o $O/et/hybrid --npus 16 --passes 2 -q
astra-run --workload $O/et/hybrid --system $C/ring_2d.json --network $C/torus2d_4x4.yml \
    -o $O/hybrid.sim.json --timeline $O/hybrid.trace.json

echo "== 6. tacos-synth: all-reduce for a 4x4 torus, simulated by astra-run next to the native ring algorithm"
T=examples/configs/tacos-synth
tacos-synth --topology $T/torus4x4.yml --collective all-reduce --size 64MiB --chunks auto -o $O/tacos.json \
    --et-prefix $O/et/tacos_ar --msccl-xml $O/tacos_ar.xml --plot $O/tacos_util.png
python3 - "$O" <<'PY'
import sys
from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et
for r in range(16):  # one 64 MiB all-reduce per NPU
    n = Node(id=1, name="all_reduce 64MiB", type=NodeType.COMM_COLL_NODE)
    n.attr.extend([make_attr("comm_type", 0), make_attr("comm_size", 64 << 20)])
    write_et(f"{sys.argv[1]}/et/ar64mib.{r}.et", GlobalMetadata(version="0.0.4"), [n])
PY
astra-run --workload $O/et/ar64mib --system $C/ring_2d.json --network $C/torus2d_4x4.yml -o $O/ar_native.sim.json -q
astra-run --workload $O/et/ar64mib --system $C/ring_2d.json --network $C/torus2d_4x4.yml \
    --custom-collective all-reduce=$O/et/tacos_ar -o $O/ar_tacos.sim.json -q

echo "== 7. comet-sweep: Megatron-1T on A100s — one point, then a small design sweep with report"
comet-sweep eval examples/configs/comet-sweep/point_1t.yml -o $O/comet_point.json
comet-sweep run examples/configs/comet-sweep/sweep_small.yml -o $O/comet.db -q
comet-sweep report $O/comet.db --top 5 --csv $O/comet_top.csv --plot $O/comet_pareto.png --json > $O/comet_top.json

echo "== 8. chakra-synth: learn the demo traces and synthesize a valid 8-rank trace; then a held-out MLP (never"
echo "      fitted) synthesized from its architecture alone (width 320, depth 3) by the bundled MLP model, simulated"
echo "      next to the original"
chakra-synth fit $O/et/mlp $O/et/transformer $O/et/gloo -o $O/synth/model.json -q
chakra-synth sample $O/synth/model.json -o $O/synth/demo --ranks 8 --nodes 400 --seed 1 -q
chakra-convert validate $O/synth/demo
chakra-synth sample examples/configs/chakra-synth/mlp.model.json -o $O/synth/mlp_320x3 --ranks 2 \
    --describe width=320,depth=3 --seed 1 -q
chakra-synth compare tests/data/synth/mlp_320x3 $O/synth/mlp_320x3 -o $O/synth/heldout.json --plot $O/synth.png \
    --system examples/configs/chakra-synth/system.json --network examples/configs/chakra-synth/network.yml
echo "      ... and a tensor x data-parallel step (TP 2 x DP 2) learned at 4 ranks, synthesized at 8: its TP pairs"
echo "      stay pairs, its DP groups grow, as in the separately recorded 8-rank step (TP 2 x DP 4)"
chakra-synth fit tests/data/tpdp/tp2dp2 -o $O/synth/tpdp.model.json -q
chakra-synth sample $O/synth/tpdp.model.json -o $O/synth/tpdp8 --ranks 8 --seed 1 -q
chakra-synth compare tests/data/tpdp/tp2dp4 $O/synth/tpdp8 -o $O/synth/tpdp8.json \
    --system examples/configs/chakra-synth/tpdp/system.json --network examples/configs/chakra-synth/tpdp/network_2x4.yml
echo "      ... and a pipeline-parallel step (PP 2 x DP 2, 1F1B): one program per stage, its sends and receives in"
echo "      the recorded order, so the simulated step keeps the stages' waiting; and at 8 ranks (DP 4) against the"
echo "      separately recorded PP 2 x DP 4 step"
chakra-synth fit tests/data/tpdp/pp2dp2 -o $O/synth/pp.model.json -q
chakra-synth sample $O/synth/pp.model.json -o $O/synth/pp --ranks 4 --seed 1 -q
chakra-convert validate $O/synth/pp
chakra-synth compare tests/data/tpdp/pp2dp2 $O/synth/pp -o $O/synth/pp.json \
    --system examples/configs/chakra-synth/tpdp/system.json --network examples/configs/chakra-synth/tpdp/network_2x2.yml
chakra-synth sample $O/synth/pp.model.json -o $O/synth/pp8 --ranks 8 --seed 1 -q   # more data parallelism
chakra-synth compare tests/data/tpdp/pp2dp4 $O/synth/pp8 -o $O/synth/pp8.json \
    --system examples/configs/chakra-synth/tpdp/system.json --network examples/configs/chakra-synth/tpdp/network_4x2.yml
echo "      ... and a bigger pipeline: fitted on the same step at hidden sizes 64-512, synthesized from width=320 alone"
echo "      against its recording (never fitted)"
chakra-synth fit $(for h in 64 96 128 192 256 384 512; do echo tests/data/tpdp/pp2dp2_h$h; done) -o $O/synth/pp_sizes.model.json -q
chakra-synth sample $O/synth/pp_sizes.model.json -o $O/synth/pp_w320 --ranks 4 --describe width=320 --seed 1 -q
chakra-convert validate $O/synth/pp_w320
chakra-synth compare tests/data/tpdp/pp2dp2_h320 $O/synth/pp_w320 -o $O/synth/pp_w320.json \
    --system examples/configs/chakra-synth/tpdp/system.json --network examples/configs/chakra-synth/tpdp/network_2x2.yml
echo "      ... and more micro-batches: fitted on the step with 4, synthesized with 8 (the 1F1B schedule re-generated)"
echo "      against its recording with 8 (never fitted)"
chakra-synth fit tests/data/tpdp/pp2dp2_m4 -o $O/synth/pp_m4.model.json -q
chakra-synth sample $O/synth/pp_m4.model.json -o $O/synth/pp_m8 --ranks 4 --micro-batches 8 --seed 1 -q
chakra-convert validate $O/synth/pp_m8
chakra-synth compare tests/data/tpdp/pp2dp2_m8 $O/synth/pp_m8 -o $O/synth/pp_m8.json \
    --system examples/configs/chakra-synth/tpdp/system.json --network examples/configs/chakra-synth/tpdp/network_2x2.yml

echo "== 9. xrbench-run: XR scenario scores, Single OS (B) vs Dual WS_OS (J) at 4K PEs, per-layer cost model"
xrbench-run --scenario all --accelerators B_4K --accelerators J_4K -o $O/xrbench.csv --report $O/xrbench.json

echo "== 10. sushi-serve: SubGraph Stationary serving of OFA SubNets (SUSHI vs no cache / static cache / SlackFit)"
sushi-serve --queries 50000 -o $O/sushi.json --plot $O/sushi.png
sushi-serve --supernet ofa-resnet50 --queries 20000 -o $O/sushi_resnet50.json -q

echo "== 11. vegeta-sim: VEGETA sparse tile engine vs the dense RASA-SM engine (published 1.09/2.20/3.74/3.28x)"
vegeta-sim --layers bert-large --sparsity all -o $O/vegeta.csv --report $O/vegeta.json --plot $O/vegeta.png
vegeta-sim --from-et $O/et/transformer --sparsity 2:4 --et-out $O/et/transformer.vegeta --report $O/vegeta_et.json -q
printf 'topology: [ Ring ]\nnpus_count: [ 1 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n' > $O/ring1.yml
astra-run --workload $O/et/transformer.vegeta --system $C/ring_1d.json --network $O/ring1.yml -o $O/vegeta_et.sim.json -q

python3 examples/demo_report.py "$O"
