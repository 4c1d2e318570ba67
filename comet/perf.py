"""Iteration time, memory and feasibility of transformer training, vectorised over arrays of design points.

Every argument may be a scalar or a numpy array (broadcast together), so a sweep of 10^5–10^6 points is a handful
of array expressions rather than a Python call per point.

Per pipeline stage and micro-batch b (t = TP, p = PP, v = interleave, m = micro-batches per pipeline):
  compute     per layer 24·b·s·h²·(1 + s/6h)/t FLOPs forward, 2× backward, +1× forward with full recomputation; the
              logits GEMM 2·b·s·h·V/t on the last stage; time = FLOPs / (peak · eff), eff = e_max·g/(g + g_half)
              with g = h/t, the per-GPU GEMM width (narrow GEMMs run further from peak)
  TP comm     2 all-reduces of b·s·h fp16 per layer forward, 2 backward, 2 more with full recompute;
              ring time 2(t-1)/t · bytes / (bw · comm_eff) + 2(t-1) · latency (scale-up bw inside a node)
  PP comm     b·s·h fp16 / t per micro-batch and direction (Megatron's scatter/gather) at scale-out bw between nodes
  pipeline    (m + (p-1)/v) · (t_fwd + t_bwd): 1F1B, interleaved schedules shrink the bubble by v
  DP comm     all-reduce (or ZeRO reduce-scatter + all-gather) of 2·P/(t·p) bytes of fp16 gradients across dp
              replicas, a fraction dp_overlap hidden behind the backward pass
  optimizer   Adam: ~16 bytes per local parameter through HBM
  memory      fp16 weights + grads (4 B/param) and fp32 Adam state (12 B/param) per t·p shard, divided by dp for the
              parts ZeRO shards; activations per layer (Korthikanti et al. 2022): s·b·h·(10 + 24/t + 5·a·s/(h·t)),
              34/t with sequence parallelism, without the 5as/ht term for selective recompute, 2·s·b·h for full
              recompute, for min(p, m) micro-batches in flight (×(1 + (p-1)/(p·v)) interleaved); what exceeds HBM
              spills to the expanded memory pool (read + write per iteration at its bandwidth) or is infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from comet.model import Cluster, TransformerModel

RECOMPUTE = {"none": 0, "selective": 1, "full": 2}
REASONS = {
    0: "",
    1: "tp x pp does not divide the GPU count",
    2: "global batch is not a multiple of dp x micro-batch",
    3: "tp does not divide the attention heads",
    4: "pp x interleave does not divide the layers",
    5: "interleaved schedule needs the micro-batch count to be a multiple of pp",
    6: "memory per GPU exceeds HBM (and the expanded memory pool)",
    7: "tp x pp exceeds the GPU count",
}


@dataclass(frozen=True)
class Calibration:
    """Fitted once on Megatron-LM Table 1, all ten rows together (python -m comet.calibrate): max error 5.0 %.

    The fit puts comm_eff and dp_overlap at their bounds (nominal link bandwidth; the gradient all-reduce hidden
    behind the backward pass) and finds no GEMM-width effect (gemm_eff_half = 0)."""

    gemm_eff_max: float = 0.7189       # dense GEMM throughput / peak
    gemm_eff_half: float = 0.0         # per-GPU GEMM width at which efficiency halves
    comm_eff: float = 1.0              # achieved / nominal link bandwidth
    dp_overlap: float = 1.0            # fraction of the data-parallel all-reduce hidden behind backward compute
    elementwise_bytes: float = 43.1648  # HBM bytes moved per activation element per layer (forward) outside GEMMs
    attention_eff: float = 0.1838      # efficiency of the attention score/value GEMMs relative to the dense ones


def evaluate(model: TransformerModel, cluster: Cluster, *, gpus, tp, pp, batch, micro=1, interleave=1,
             recompute=2, sequence_parallel=False, zero=0, calib: Calibration = Calibration(),
             peak_tflops=None, hbm_gb=None, hbm_gbps=None, scaleup_gbps=None, scaleout_gbps=None,
             expanded_memory_gb=None, expanded_memory_gbps=None) -> dict[str, np.ndarray]:
    f64 = np.float64
    gpus, tp, pp, batch, micro, v, rc, zero = (np.asarray(x, dtype=np.int64) for x in
                                               (gpus, tp, pp, batch, micro, interleave, recompute, zero))
    sp = np.asarray(sequence_parallel, dtype=bool)
    peak = np.asarray(cluster.peak_tflops if peak_tflops is None else peak_tflops, f64) * 1e12
    hbm = np.asarray(cluster.hbm_gb if hbm_gb is None else hbm_gb, f64) * 1e9
    hbm_bw = np.asarray(cluster.hbm_gbps if hbm_gbps is None else hbm_gbps, f64) * 1e9
    up_bw = np.asarray(cluster.scaleup_gbps if scaleup_gbps is None else scaleup_gbps, f64) * 1e9 * calib.comm_eff
    out_bw = np.asarray(cluster.scaleout_gbps if scaleout_gbps is None else scaleout_gbps, f64) * 1e9 * calib.comm_eff
    exp_cap = np.asarray(cluster.expanded_memory_gb if expanded_memory_gb is None else expanded_memory_gb, f64) * 1e9
    exp_bw = np.asarray(cluster.expanded_memory_gbps if expanded_memory_gbps is None else expanded_memory_gbps,
                        f64) * 1e9
    up_lat, out_lat = cluster.scaleup_latency_us * 1e-6, cluster.scaleout_latency_us * 1e-6
    gpn = cluster.gpus_per_node
    n_layers, h, a, s, V = model.layers, model.hidden, model.heads, model.seq, model.vocab
    P = model.params

    reason = np.zeros(np.broadcast(gpus, tp, pp, batch, micro, v, rc, zero, sp, peak, hbm).shape, dtype=np.int64)
    tpp = tp * pp
    reason = np.where((reason == 0) & (tpp > gpus), 7, reason)
    reason = np.where((reason == 0) & (gpus % np.maximum(tpp, 1) != 0), 1, reason)
    dp = np.maximum(gpus // np.maximum(tpp, 1), 1)
    reason = np.where((reason == 0) & (batch % (dp * micro) != 0), 2, reason)
    m = np.maximum(batch // (dp * micro), 1)
    reason = np.where((reason == 0) & (a % tp != 0), 3, reason)
    reason = np.where((reason == 0) & (n_layers % (pp * v) != 0), 4, reason)
    reason = np.where((reason == 0) & (v > 1) & (m % pp != 0), 5, reason)

    tpf, ppf, dpf, b = tp.astype(f64), pp.astype(f64), dp.astype(f64), micro.astype(f64)
    layers_stage = n_layers / ppf
    # ---- compute
    layer_dense = 24 * b * s * h * h / tpf
    layer_attn = 4 * b * s * s * h / tpf
    logits_fwd = 2 * b * s * h * V / tpf
    g = h / tpf
    eff = calib.gemm_eff_max * g / (g + calib.gemm_eff_half)
    rate = peak * eff
    # elementwise ops (layer norm, dropout, GeLU, softmax, residuals) are HBM-bound; replicated across TP ranks
    # unless sequence parallelism splits them
    elem_f = layers_stage * calib.elementwise_bytes * b * s * h / np.where(sp, tpf, 1.0) / hbm_bw
    layer_time = (layer_dense + layer_attn / calib.attention_eff) / rate
    comp_f = layers_stage * layer_time + logits_fwd / rate + elem_f
    comp_b = (layers_stage * (2 * layer_time + np.where(rc == 2, layer_time, 0.0)
                              + np.where(rc == 1, layer_attn / calib.attention_eff / rate, 0.0))
              + 2 * logits_fwd / rate + elem_f * np.where(rc == 2, 3, 2))
    # ---- tensor parallel
    act_bytes = 2 * b * s * h
    tp_bw = np.where(tp <= gpn, up_bw, out_bw)
    tp_lat = np.where(tp <= gpn, up_lat, out_lat)
    ar = np.where(tp > 1, 2 * (tpf - 1) / tpf * act_bytes / tp_bw + 2 * (tpf - 1) * tp_lat, 0.0)
    tp_f = layers_stage * 2 * ar
    tp_b = layers_stage * ar * np.where(rc == 2, 4, 2)
    # ---- pipeline p2p: stages on different nodes once a stage fills a node
    cross = tp * 2 > gpn
    p2p = np.where(pp > 1, act_bytes / tpf / np.where(cross, out_bw, up_bw) + np.where(cross, out_lat, up_lat), 0.0)
    t_f, t_b = comp_f + tp_f + p2p, comp_b + tp_b + p2p
    bubble_steps = (ppf - 1) / v
    pipe = (m + bubble_steps) * (t_f + t_b)
    # ---- data parallel
    grad_bytes = 2 * P / (tpf * ppf)
    dp_bw = np.where(dp * tpp > gpn, out_bw, up_bw)
    dp_lat = np.where(dp * tpp > gpn, out_lat, up_lat)
    dp_t = np.where(dp > 1, 2 * (dpf - 1) / dpf * grad_bytes / dp_bw + 2 * (dpf - 1) * dp_lat, 0.0)
    dp_exposed = (1 - calib.dp_overlap) * dp_t
    # ---- memory
    shard = P / (tpf * ppf)
    weights = 2 * shard / np.where(zero >= 3, dpf, 1)
    grads = 2 * shard / np.where(zero >= 2, dpf, 1)
    optim = 12 * shard / np.where(zero >= 1, dpf, 1)
    full_act = s * b * h * np.where(sp, 34 / tpf, 10 + 24 / tpf)
    attn_act = s * b * h * 5 * a * s / (h * tpf)
    per_layer = np.where(rc == 2, 2 * s * b * h / np.where(sp, tpf, 1),
                         np.where(rc == 1, full_act, full_act + attn_act))
    in_flight = np.minimum(ppf, m.astype(f64)) * np.where(v > 1, 1 + (ppf - 1) / (ppf * v), 1.0)
    acts = per_layer * layers_stage * in_flight
    mem = weights + grads + optim + acts
    overflow = np.maximum(mem - hbm, 0.0)
    reason = np.where((reason == 0) & (overflow > exp_cap), 6, reason)
    offload = np.where(overflow > 0, 2 * overflow / np.where(exp_bw > 0, exp_bw, 1.0), 0.0)
    optimizer = 16 * shard / np.where(zero >= 1, dpf, 1) / hbm_bw
    total = pipe + dp_exposed + optimizer + offload
    feasible = reason == 0
    flops = model.flops_per_iteration(1) * batch
    tflops = np.where(feasible, flops / (total * gpus) / 1e12, 0.0)
    return {
        "feasible": feasible, "reason": reason, "iteration_time_s": total, "tflops_per_gpu": tflops,
        "memory_per_gpu_bytes": mem, "dp": dp, "microbatches": m,
        "compute_s": m * (comp_f + comp_b), "tp_comm_s": m * (tp_f + tp_b),
        "pp_comm_s": m * 2 * p2p, "bubble_s": bubble_steps * (t_f + t_b), "dp_comm_s": dp_t,
        "dp_exposed_s": dp_exposed, "optimizer_s": optimizer, "offload_s": offload,
    }
