"""The 11 XRBench unit models: total encoded MACs and layer counts (reference/xrbench.md §1).

Source: the MAESTRO model files of XRBench/XRBench-MLSys2023 (`usage_scenarios/*.m`) as summarised in
reference/xrbench.md §1 ("MACs as encoded" = what the reference simulator costs). Per-layer shapes are
NOT transcribed yet (known limit, docs/xrbench-run.md); the cost model works on per-model totals.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitModel:
    id: str
    task: str
    network: str
    layers: int
    gmacs: float          # MACs as encoded in the reference model file, in 1e9


MODELS: dict[str, UnitModel] = {m.id: m for m in [
    UnitModel("HT", "hand tracking", "HT_hand_graph_cnn_half", 224, 3.724),
    UnitModel("ES", "eye segmentation", "ES_RITNet", 42, 1.040),
    UnitModel("GE", "gaze estimation", "GE_FBNet_C", 63, 2.158),
    UnitModel("KD", "keyword detection", "KD_res8_narrow", 8, 0.005),
    UnitModel("ASR", "speech recognition", "ASR_EM_24L", 120, 9.664),
    UnitModel("SS", "semantic segmentation", "SS_HRViT_b1", 423, 20.095),
    UnitModel("OD", "object detection", "OD_D2go_FasterRCNN", 138, 9.707),
    UnitModel("AS", "action segmentation", "AS_ED_TCN", 4, 0.354),
    UnitModel("DE", "depth estimation", "DE_midas_v21_small", 92, 18.494),
    UnitModel("DR", "depth refinement", "DR_RGBd_200", 34, 16.837),
    UnitModel("PD", "plane detection", "PD_Plane_RCNN_Quarter", 153, 7.524),
]}
