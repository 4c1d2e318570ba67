"""The 11 XRBench unit models: sources, input sizes, layer lists, MAC and parameter totals.

`layers(ID)` builds the per-layer shapes from the published architecture (xrbench/architectures.py).
`encoded_gmacs` is the reference table's "MACs as encoded" (reference/xrbench.md §1): what XRBench's MAESTRO
files cost (no strides, no padding, depthwise written as dense convs, attention products left out), NOT the
real network's MACs. `encoded_view_gmacs(ID)` applies that encoding convention to our layer list, which shows
how much of the gap is the convention and how much is a different layer list.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from . import architectures as arch
from .layers import Layer


@dataclass(frozen=True)
class UnitModel:
    id: str
    task: str
    network: str                  # Network name in the XRBench model files
    source: str                   # paper (and code) the layer list is derived from
    input: str                    # input tensor of one inference (reference §1 first layer / §6)
    build: Callable[[], list[Layer]]
    encoded_layers: int           # layer count in the XRBench file (reference §1)
    encoded_gmacs: float          # "MACs as encoded" (reference §1), 1e9

    @property
    def layers(self) -> list[Layer]:
        return layers(self.id)

    @property
    def gmacs(self) -> float:
        return sum(lay.macs for lay in self.layers) / 1e9

    @property
    def mparams(self) -> float:
        return sum(lay.params for lay in self.layers) / 1e6


MODELS: dict[str, UnitModel] = {m.id: m for m in [
    UnitModel("HT", "hand tracking", "HT_hand_graph_cnn_half",
              "Ge et al., CVPR 2019 (3d-hand-shape/hand-graph-cnn)", "3x128x128 RGB (half of 256)",
              arch.hand_graph_cnn, 224, 3.724),
    UnitModel("ES", "eye segmentation", "ES_RITNet",
              "Chaudhary et al., ICCVW 2019 (RITnet, OpenEDS)", "1x160x100 IR eye image",
              arch.ritnet, 42, 1.040),
    UnitModel("GE", "gaze estimation", "GE_FBNet_C",
              "Wu et al., CVPR 2019 (FBNet-C; OpenEDS-2020 gaze)", "3x160x100 eye crop",
              arch.fbnet_c, 63, 2.158),
    UnitModel("KD", "keyword detection", "KD_res8_narrow",
              "Tang & Lin, ICASSP 2018 (Honk res8-narrow, Speech Commands)", "1x98x40 MFCC",
              arch.res8_narrow, 8, 0.005),
    UnitModel("ASR", "speech recognition", "ASR_EM_24L",
              "Shi et al., ICASSP 2021 (Emformer, LibriSpeech), 24 layers", "128 frames x 512",
              arch.emformer, 120, 9.664),
    UnitModel("SS", "semantic segmentation", "SS_HRViT_b1",
              "Gu et al., CVPR 2022 (HRViT-b1 + SegFormer head, Cityscapes)", "3x224x224 RGB",
              arch.hrvit_b1_segformer, 423, 20.095),
    UnitModel("OD", "object detection", "OD_D2go_FasterRCNN",
              "D2Go faster_rcnn_fbnetv3a_C4 (FBNetV3-A, COCO)", "3x224x299 RGB",
              arch.d2go_faster_rcnn, 138, 9.707),
    UnitModel("AS", "action segmentation", "AS_ED_TCN",
              "Lea et al., CVPR 2017 (ED-TCN, GTEA)", "668 frames x 128 features",
              arch.ed_tcn, 4, 0.354),
    UnitModel("DE", "depth estimation", "DE_midas_v21_small",
              "Ranftl et al., TPAMI 2020 (MiDaS v2.1 small, EfficientNet-Lite3)", "3x192x256 RGB",
              arch.midas_v21_small, 92, 18.494),
    UnitModel("DR", "depth refinement", "DR_RGBd_200",
              "Ma & Karaman, ICRA 2018 (sparse-to-dense RGBd-200, ResNet-18 UpProj, KITTI)",
              "4x228x912 RGB + sparse depth", arch.sparse_to_dense_rgbd, 34, 16.837),
    UnitModel("PD", "plane detection", "PD_Plane_RCNN_Quarter",
              "Liu et al., CVPR 2019 (PlaneRCNN, ResNet-101-FPN), quarter resolution", "3x160x160 RGB",
              arch.plane_rcnn_quarter, 153, 7.524),
]}


@cache
def _layers(mid: str) -> tuple[Layer, ...]:
    return tuple(MODELS[mid].build())


def layers(mid: str) -> list[Layer]:
    """Per-layer shapes of one inference of model `mid`."""
    if mid not in MODELS:
        raise KeyError(f"unknown model {mid!r} (known: {' '.join(MODELS)})")
    return list(_layers(mid))


def encoded_view_gmacs(mid: str) -> float:
    """Our layer list costed with the XRBench/MAESTRO encoding convention (`encoded_layers`: Layer.encoded,
    without the attention products the XRBench files leave out)."""
    return sum(lay.macs for lay in encoded_layers(mid)) / 1e9


def encoded_layers(mid: str) -> list[Layer]:
    """Our layer list rewritten in the XRBench/MAESTRO file convention (dense, stride 1, output Y-R+1, ROI batch
    folded into rows, attention products dropped): lets the cost model run on the shapes MAESTRO costed."""
    return [lay.encoded() for lay in _layers(mid) if lay.op != "matmul"]


def summary() -> list[dict]:
    """One row per model: layer counts, MACs, parameters, and the reference's encoded totals."""
    rows = []
    for m in MODELS.values():
        rows.append({"model": m.id, "network": m.network, "input": m.input, "layers": len(_layers(m.id)),
                     "gmacs": m.gmacs, "mparams": m.mparams,
                     "encoded_layers": m.encoded_layers, "encoded_gmacs": m.encoded_gmacs,
                     "encoded_view_gmacs": encoded_view_gmacs(m.id)})
    return rows
