"""Layer-list generators of the 11 XRBench unit models, derived from the published architectures.

Each function returns a list of `Layer`s (xrbench/layers.py) for one inference at the input size XRBench uses
(reference/xrbench.md §1, the first layer of each MAESTRO model file; §6 for the halo-padded sizes). Sources and
the choices we had to make are in `xrbench/models.py` (per model) and docs/xrbench-run.md. Element-wise ops,
normalisation, activations, pooling, resampling and sparse graph products are not MACs and are not listed.
"""
from __future__ import annotations

import math

from .layers import Layer, Net, basic_block, bottleneck, inverted_residual

# ---------------------------------------------------------------------------------------------- ResNet
RESNET_STAGES = {18: (basic_block, (2, 2, 2, 2)), 101: (bottleneck, (3, 4, 23, 3))}


def resnet(net: Net, depth: int, caffe: bool = False, taps: list | None = None, classes: int = 0) -> Net:
    """He et al. 2016 ResNet-18 / -101 trunk (7x7/2 stem, 3x3/2 max-pool, 4 stages); `caffe` = Matterport's
    variant (stride on the first 1x1, biases); `taps` collects each stage's output shape; `classes` > 0
    appends the ImageNet FC (for checking against torchvision's published totals)."""
    block, counts = RESNET_STAGES[depth]
    net.conv(64, 7, stride=2, bias=caffe).pool(2)
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts)):
        for b in range(n):
            stride = 2 if i > 0 and b == 0 else 1
            if block is bottleneck:
                bottleneck(net, planes, stride, bias=caffe, caffe=caffe)
            else:
                basic_block(net, planes, stride)
        if taps is not None:
            taps.append(net.shape())
    if classes:
        net.set(y=1, x=1).fc(classes)
    return net


# ---------------------------------------------------------------------------------------------- HT
def _hg_residual(net: Net, out: int) -> Net:
    """Newell et al.'s residual module: 1x1 to out/2, 3x3, 1x1 to out; 1x1 skip when channels change."""
    if net.c != out:
        net.fork().conv(out, 1, bias=True, name="skip")
    return net.conv(out // 2, 1, bias=True).conv(out // 2, 3, bias=True).conv(out, 1, bias=True)


def _hourglass(net: Net, depth: int, modules: int, feats: int) -> Net:
    up = net.fork()                                      # up1: full-resolution branch
    for _ in range(modules):
        _hg_residual(up, feats)
    net.pool(2)                                          # low1
    for _ in range(modules):
        _hg_residual(net, feats)
    if depth > 1:
        _hourglass(net, depth - 1, modules, feats)       # low2 (recursive)
    else:
        for _ in range(modules):
            _hg_residual(net, feats)
    for _ in range(modules):                             # low3
        _hg_residual(net, feats)
    return net.up(2)                                     # up2 (+ up1, no MACs)


def _cheb(net: Net, out: int, vertices: int, k: int = 3) -> Net:
    """Chebyshev graph conv (Defferrard et al.): per vertex, a Linear over the K stacked L^k x features."""
    return net.set(c=net.c * k, y=vertices, x=1).fc(out)


def hand_graph_cnn(size: int = 128, stacks: int = 2, modules: int = 2, feats: int = 256, joints: int = 21,
                   coarse_vertices: int = 80, mesh_vertices: int = 1280) -> list[Layer]:
    """HT: Ge et al., "3D Hand Shape and Pose Estimation from a Single RGB Image", CVPR 2019
    (3d-hand-shape/hand-graph-cnn): 2-stack hourglass (2 residual modules per level) for 21 heat-maps,
    residual feature encoder, Chebyshev graph CNN to a 1280-vertex mesh, graph pose regressor.
    XRBench runs it at half resolution (128 x 128 instead of 256 x 256)."""
    net = Net(3, size, size, prefix="hg.")
    net.conv(64, 7, stride=2, bias=True)
    _hg_residual(net, 128)
    net.pool(2)
    _hg_residual(net, 128)
    _hg_residual(net, feats)
    for i in range(stacks):
        _hourglass(net, 4, modules, feats)
        for _ in range(modules):
            _hg_residual(net, feats)
        net.conv(feats, 1, bias=True, name="lin")
        heat = net.fork().conv(joints, 1, bias=True, name="heatmap")
        if i < stacks - 1:                               # intermediate supervision merged back
            net.fork().conv(feats, 1, bias=True, name="ll")
            heat.conv(feats, 1, bias=True, name="heatmap_back")
    net.prefix = "feat."
    net.fork().set(c=joints).conv(feats, 1, bias=True, name="heatmap_conv")
    net.conv(feats, 1, bias=True, name="encoding_conv")
    for _ in range(4):                                   # 4 blocks x 2 residual modules, max-pool after each
        for _ in range(2):
            _hg_residual(net, feats)
        net.pool(2)
    net.set(c=net.c * net.y * net.x, y=1, x=1)
    net.prefix = "mesh."
    net.fc(512).fc(64 * coarse_vertices)
    net.set(c=64)
    v = coarse_vertices * 4                              # two x2 graph upsamplings per block
    _cheb(net, 64, v)
    _cheb(net, 32, v)
    _cheb(net, 32, v * 4)
    _cheb(net, 3, v * 4)
    net.prefix = "pose."
    _cheb(net, 32, mesh_vertices)
    _cheb(net, 32, mesh_vertices)
    _cheb(net, 64, mesh_vertices // 4)                   # graph max-pool by 4 after each block
    _cheb(net, 64, mesh_vertices // 4)
    net.set(c=64 * mesh_vertices // 16, y=1, x=1).fc(512).fc(joints * 3)
    return net.layers


# ---------------------------------------------------------------------------------------------- ES
def ritnet(h: int = 160, w: int = 100, f: int = 32, classes: int = 4) -> list[Layer]:
    """ES: Chaudhary et al., "RITnet: Real-time Semantic Segmentation of the Eye for Gaze Tracking",
    ICCVW 2019 (OpenEDS): DenseNet-style encoder (5 down blocks) / decoder (4 up blocks), 32 channels.
    XRBench feeds 160 x 100 (OpenEDS frames are 640 x 400); pooling in ceil mode so 25 -> 13 -> 7 rows."""
    net = Net(1, h, w, prefix="ritnet.")
    skips = []
    for i in range(5):
        if i:
            net.pool(2)
        cin = net.c
        net.conv(f, 3, bias=True)
        net.set(c=cin + f).conv(f, 1, bias=True).conv(f, 3, bias=True)
        net.set(c=cin + 2 * f).conv(f, 1, bias=True).conv(f, 3, bias=True)
        skips.append(net.shape())
    for sc, sy, sx in reversed(skips[:-1]):
        cin = net.c + sc                                  # upsample, concatenate the skip
        net.set(c=cin, y=sy, x=sx).conv(f, 1, bias=True).conv(f, 3, bias=True)
        net.set(c=cin + f).conv(f, 1, bias=True).conv(f, 3, bias=True)
    net.conv(classes, 1, bias=True)
    return net.layers


# ---------------------------------------------------------------------------------------------- GE
# FBNet-C (Wu et al., CVPR 2019, Fig. 4 / mobile_cv "fbnet_c"): (kernel, expansion, out channels, stride)
# after the 3x3 stride-2 stem of 16 channels; stage 1 also holds a "skip" block (no compute).
FBNET_C = [(3, 1, 16, 1),
           (3, 6, 24, 2), (3, 1, 24, 1), (3, 1, 24, 1),
           (5, 6, 32, 2), (5, 3, 32, 1), (5, 6, 32, 1), (3, 6, 32, 1),
           (5, 6, 64, 2), (5, 3, 64, 1), (5, 6, 64, 1), (5, 6, 64, 1),
           (5, 6, 112, 1), (5, 6, 112, 1), (5, 6, 112, 1), (5, 3, 112, 1),
           (5, 6, 184, 2), (5, 6, 184, 1), (5, 6, 184, 1), (5, 6, 184, 1),
           (3, 6, 352, 1)]


def fbnet_c(h: int = 160, w: int = 100, classes: int = 1000) -> list[Layer]:
    """GE: FBNet-C (Wu et al., "FBNet", CVPR 2019) as the OpenEDS-2020 gaze estimator backbone; XRBench keeps
    the 1984-channel head and the 1000-way FC of the published network and feeds 160 x 100 eye crops."""
    net = Net(3, h, w, prefix="fbnetc.")
    net.conv(16, 3, stride=2)
    for k, e, out, s in FBNET_C:
        inverted_residual(net, out, k, s, e)
    net.conv(1984, 1)
    return net.set(y=1, x=1).fc(classes).layers


# ---------------------------------------------------------------------------------------------- KD
def res8_narrow(frames: int = 98, mfcc: int = 40, maps: int = 19, labels: int = 12) -> list[Layer]:
    """KD: Tang & Lin, "Deep Residual Learning for Small-Footprint Keyword Spotting", ICASSP 2018 (Honk):
    res8-narrow = bias-free 3x3 conv, 4x3 average pool, 6 residual 3x3 convs (19 maps), FC to 12 labels.
    XRBench feeds 98 x 40 MFCC frames (Honk's default is 101 x 40)."""
    net = Net(1, frames, mfcc, prefix="res8.")
    net.conv(maps, 3)
    net.pool(4, 3, ceil=False)
    for _ in range(6):
        net.conv(maps, 3)
    return net.set(y=1, x=1).fc(labels).layers


# ---------------------------------------------------------------------------------------------- ASR
def emformer(layers: int = 24, d: int = 512, heads: int = 8, ffn: int = 2048, segment: int = 128,
             left_context: int = 0) -> list[Layer]:
    """ASR: Shi et al., "Emformer: Efficient Memory Transformer Based Acoustic Model for Low Latency
    Streaming Speech Recognition", ICASSP 2021: 24 layers, d = 512, 8 heads, FFN 2048. One inference = one
    segment of 128 frames (XRBench's encoding); K/V of the cached left context are not recomputed."""
    net = Net(d, segment, 1, prefix="emformer.")
    keys = segment + left_context
    dh = d // heads
    for i in range(layers):
        net.prefix = f"emformer.l{i}."
        net.fork().fc(d, name="q")
        net.fork().fc(2 * d, name="kv")
        net.matmul(heads, segment, keys, dh, name="qk")
        net.matmul(heads, segment, dh, keys, name="av")
        net.fc(d, name="out")
        net.fc(ffn, name="ffn1").fc(d, name="ffn2")
    return net.layers


# ---------------------------------------------------------------------------------------------- SS
def _des(net: Net) -> None:
    """HRViT diversity-enhanced shortcut: C = k*p features, Linear(p, p) then Linear(k, k) (no reshape MACs)."""
    c, y, x = net.shape()
    e = int(math.log2(c))
    p = 2 ** (e - e // 2)
    k = c // p
    b = net.fork().set(c=p, y=y * x * k, x=1)
    b.fc(p, name="des_right")
    b.set(c=k, y=y * x * p, x=1).fc(k, name="des_left")


def _hrvit_block(net: Net, ws: int, dim_head: int = 32, mlp_ratio: int = 4) -> None:
    """HRViTBlock: cross-shaped window attention (half the channels in horizontal stripes of `ws` rows, half
    in vertical stripes; K shares V) with a parallel depthwise 3x3 on V, the DES shortcut, and MixCFN."""
    c, h, w = net.shape()
    t = h * w
    att = net.fork()
    att.fc(2 * c, name="qv")                                          # Linear C -> 2C (q, v)
    att.set(c=c, y=h, x=w).dw(3, name="v_conv", bias=True)
    half = c // 2
    nh = max(1, half // dim_head)
    dh = half // nh
    for stripes, length in ((math.ceil(h / ws), ws * w), (math.ceil(w / ws), ws * h)):
        att.matmul(nh * stripes, length, length, dh, name="qk")
        att.matmul(nh * stripes, length, dh, length, name="av")
    att.set(c=c, y=t, x=1).fc(c, name="proj")
    _des(net)
    ffn = net.fork().set(y=t, x=1)
    hid = c * mlp_ratio
    ffn.fc(hid, name="ffn1")
    ffn.set(c=hid // 2, y=h, x=w).dw(3, name="mix3", bias=True)
    ffn.set(c=hid // 2, y=h, x=w).dw(5, name="mix5", bias=True)
    ffn.set(c=hid, y=t, x=1).fc(c, name="ffn2")


HRVIT_B1 = {"channels": [(32,), (32, 64), (32, 64, 128), (32, 64, 128), (32, 64, 128, 256), (32, 64, 128, 256)],
            "blocks": [(1,), (1, 1), (1, 1, 6), (1, 1, 6), (1, 1, 6, 2), (1, 1, 2, 2)],
            "ws": (1, 2, 7, 7)}


def hrvit_b1_segformer(h: int = 224, w: int = 224, classes: int = 19, head: int = 256) -> list[Layer]:
    """SS: Gu et al., "Multi-Scale High-Resolution Vision Transformer for Semantic Segmentation", CVPR 2022
    (facebookresearch/HRViT): HRViT-b1 backbone (6 stages, up to 4 branches at strides 4..32) with the
    SegFormer all-MLP head (256 channels, 19 Cityscapes classes). XRBench feeds 224 x 224."""
    net = Net(3, h, w, prefix="hrvit.stem.")
    net.conv(32, 3, stride=2, bias=True).conv(64, 3, stride=2, bias=True)
    y0, x0 = net.y, net.x
    res = [(math.ceil(y0 / 2 ** b), math.ceil(x0 / 2 ** b)) for b in range(4)]
    prev = [64]
    for si, (outc, blocks) in enumerate(zip(HRVIT_B1["channels"], HRVIT_B1["blocks"])):
        net.prefix = f"hrvit.s{si}."
        fused = list(prev) if len(prev) == len(outc) else list(prev) + [outc[-1]]
        for i, oc in enumerate(fused):                    # fusion block: every input to every output
            for j, ic in enumerate(prev):
                if j == i:
                    continue
                f = net.at(ic, *res[j])
                if j < i:                                 # strided depthwise down-sample then 1x1
                    f.dw(2 ** (i - j) + 1, stride=2 ** (i - j), name="fuse_down")
                    f.set(y=res[i][0], x=res[i][1]).conv(oc, 1, bias=True, name="fuse")
                else:                                     # 1x1 then nearest up-sample
                    f.conv(oc, 1, bias=True, name="fuse")
        for b, (ic, oc, nb) in enumerate(zip(fused, outc, blocks)):
            br = net.at(ic, *res[b], prefix=f"{net.prefix}b{b}.")
            br.conv(oc, 1, bias=True, name="embed").dw(3, bias=True, name="embed")
            for _ in range(nb):
                _hrvit_block(br, HRVIT_B1["ws"][b])
        prev = list(outc)
    net.prefix = "segformer."
    for b, c in enumerate(prev):                         # per-scale linear embedding to 256, up-sample to 1/4
        net.at(c, *res[b]).conv(head, 1, name="embed")
    net.set(c=head * len(prev), y=res[0][0], x=res[0][1]).conv(head, 1, name="fuse").conv(classes, 1, bias=True)
    return net.layers


# ---------------------------------------------------------------------------------------------- OD
# D2Go FBNetV3_A detection arch (mobile_cv fbnet_v2 modeldef, "FBNetV3_A"): (kernel, expansion, out, stride, SE)
FBNETV3A_TRUNK = ([(3, 1, 16, 1, False)] * 2
                  + [(5, 4, 24, 2, False)] + [(5, 3, 24, 1, False)] * 3
                  + [(5, 4, 32, 2, True)] + [(3, 3, 32, 1, True)] * 3
                  + [(5, 4, 64, 2, False)] + [(3, 3, 64, 1, False)] * 3
                  + [(5, 4, 112, 1, True)] + [(5, 3, 112, 1, True)] * 5)
FBNETV3A_RPN = [(5, 3, 112, 1, True)] * 5
FBNETV3A_BOX = [(5, 4, 184, 2, True)] + [(3, 4, 184, 1, True)] * 4 + [(5, 6, 200, 1, True)]


def d2go_faster_rcnn(h: int = 224, w: int = 299, proposals: int = 30, classes: int = 80,
                     anchors: int = 15) -> list[Layer]:
    """OD: D2Go `faster_rcnn_fbnetv3a_C4` (facebookresearch/d2go configs): FBNetV3-A trunk to stride 16,
    FBNetV2 RPN head (5 IRF blocks, 15 anchors = 5 sizes x 3 ratios), 30 test proposals (POST_NMS_TOPK_TEST),
    6 x 6 ROIAlign and the FBNetV3-A stage-4 blocks as the per-ROI box head, class + class-specific box FCs.
    Input: MIN_SIZE_TEST 224 on a 4:3 frame -> 224 x 299 (XRBench's first layer)."""
    net = Net(3, h, w, prefix="fbnetv3a.")
    net.conv(16, 3, stride=2)
    for k, e, out, s, se in FBNETV3A_TRUNK:
        inverted_residual(net, out, k, s, e, se)
    trunk = net.shape()
    rpn = net.fork()
    rpn.prefix = "rpn."
    for k, e, out, s, se in FBNETV3A_RPN:
        inverted_residual(rpn, out, k, s, e, se)
    rpn.fork().conv(anchors, 1, bias=True, name="objectness")
    rpn.conv(4 * anchors, 1, bias=True, name="deltas")
    box = net.at(trunk[0], 6, 6, prefix="box.")
    box.n = proposals                                    # the box head runs on every proposal (weights shared)
    for k, e, out, s, se in FBNETV3A_BOX:
        inverted_residual(box, out, k, s, e, se)
    box.set(y=1, x=1).fork().fc(classes + 1, name="cls")
    box.fc(4 * classes, name="bbox")
    return net.layers


# ---------------------------------------------------------------------------------------------- AS
def ed_tcn(frames: int = 668, features: int = 128, filters=(64, 96), kernel: int = 25,
           classes: int = 11) -> list[Layer]:
    """AS: Lea et al., "Temporal Convolutional Networks for Action Segmentation and Detection", CVPR 2017:
    encoder-decoder TCN, 1-D convs of length 25 with 64 and 96 filters, max-pool / up-sample by 2, per-frame
    classifier (11 GTEA actions). XRBench: 668 frames of 128-d features."""
    net = Net(features, frames, 1, prefix="edtcn.")
    for f in filters:
        net.conv(f, kernel, 1, bias=True).pool(2, 1)
    for f in reversed(filters):
        net.set(y=net.y * 2).conv(f, kernel, 1, bias=True)
    return net.fc(classes).layers


# ---------------------------------------------------------------------------------------------- DE
# EfficientNet-Lite3 (Tan & Le 2019, lite variant: width 1.2, depth 1.4, no SE, ReLU6, stem/first/last fixed):
# (kernel, expansion, out, stride, repeats)
EFFICIENTNET_LITE3 = [(3, 1, 24, 1, 1), (3, 6, 32, 2, 3), (5, 6, 48, 2, 3), (3, 6, 96, 2, 5),
                      (5, 6, 136, 1, 5), (5, 6, 232, 2, 6), (3, 6, 384, 1, 1)]


def _rcu(net: Net) -> None:
    """MiDaS ResidualConvUnit_custom: two 3x3 convs (bias, no BN)."""
    net.conv(net.c, 3, bias=True).conv(net.c, 3, bias=True)


def midas_v21_small(h: int = 192, w: int = 256, features: int = 64) -> list[Layer]:
    """DE: Ranftl et al., "Towards Robust Monocular Depth Estimation: Mixing Datasets for Zero-shot
    Cross-dataset Transfer", TPAMI 2020 (isl-org/MiDaS `MidasNet_small`, v2.1 small): EfficientNet-Lite3
    encoder, 4 scratch 3x3 convs to 64/128/256/512 (expand), 4 feature-fusion blocks with residual conv units,
    output head. Input 192 x 256 (a 4:3 frame at MiDaS small's 256 long side; XRBench's first encoded layer
    is the first block's depthwise conv at 96 x 128)."""
    net = Net(3, h, w, prefix="midas.enc.")
    net.conv(32, 3, stride=2)
    taps = {}
    for i, (k, e, out, s, n) in enumerate(EFFICIENTNET_LITE3):
        for j in range(n):
            inverted_residual(net, out, k, s if j == 0 else 1, e, divisor=1)
        if i in (1, 2, 4, 6):                            # MiDaS layer1..layer4 outputs (1/4 .. 1/32)
            taps[len(taps)] = net.shape()
    widths = [features, features * 2, features * 4, features * 8]
    net.prefix = "midas.dec."
    rn = []
    for i, (c, y, x) in taps.items():
        net.at(c, y, x).conv(widths[i], 3, name="layer_rn")
        rn.append((widths[i], y, x))
    cur = None
    for i in (3, 2, 1, 0):                               # refinenet4 .. refinenet1
        c, y, x = rn[i]
        blk = net.at(c, y, x, prefix=f"{net.prefix}refine{i + 1}.")
        if cur is not None:
            _rcu(blk)                                    # resConfUnit1 on the skip, then add the coarser path
        _rcu(blk)                                        # resConfUnit2
        blk.up(2).conv(c // 2 if i > 0 else c, 1, bias=True, name="out_conv")
        cur = blk.shape()
    head = net.at(*cur, prefix="midas.head.")
    head.conv(features // 2, 3, bias=True).up(2).conv(32, 3, bias=True).conv(1, 1, bias=True)
    return net.layers


# ---------------------------------------------------------------------------------------------- DR
def sparse_to_dense_rgbd(h: int = 228, w: int = 912) -> list[Layer]:
    """DR: Ma & Karaman, "Sparse-to-Dense: Depth Prediction from Sparse Depth Samples and a Single Image",
    ICRA 2018 (fangchangma/sparse-to-dense): RGB + 200 sparse depth samples (4 channels) on KITTI 228 x 912,
    ResNet-18 encoder (first conv takes 4 channels), 1x1 conv 512 -> 256, 4 UpProj modules, 3x3 conv to depth."""
    net = resnet(Net(4, h, w, prefix="s2d."), 18)
    net.conv(256, 1)
    net.prefix = "s2d.upproj."
    for _ in range(4):                                   # UpProj: unpool x2, 5x5 + 3x3 upper, 5x5 lower branch
        cin = net.c
        net.up(2)
        net.fork().conv(cin // 2, 5, name="lower")
        net.conv(cin // 2, 5).conv(cin // 2, 3)
    net.conv(1, 3)
    return net.layers


# ---------------------------------------------------------------------------------------------- PD
def plane_rcnn_quarter(size: int = 160, proposals: int = 1000, planes: int = 10, classes: int = 8,
                       params: int = 3, pool: int = 2, mask_pool: int = 4, refine=(48, 64)) -> list[Layer]:
    """PD: Liu et al., "PlaneRCNN: 3D Plane Detection and Reconstruction from a Single Image", CVPR 2019
    (NVlabs/planercnn): Mask R-CNN with a ResNet-101-FPN backbone (Caffe-style bottlenecks with bias), RPN on
    P2..P6 (3 anchors), box head conv 7x7 (256 + 64 coordinate channels) -> 1024, 1x1 1024, class (7 anchor
    normals + background) / box / plane-parameter FCs, mask head (4 x 3x3 256, deconv, 1x1), depth decoder on
    the FPN levels, per-plane refinement network. "Quarter" (XRBench) = every image-space size / 4: 640 ->
    160 input, ROI pools 7 -> 2 and 14 -> 4, refinement 192 x 256 -> 48 x 64. Proposals = the config's
    POST_NMS_ROIS_INFERENCE (1000); `planes` (detections through the mask head and refinement) is our
    assumption for a typical indoor frame (the config allows up to 100)."""
    fpn_in: list[tuple[int, int, int]] = []
    net = resnet(Net(3, size, size, prefix="r101."), 101, caffe=True, taps=fpn_in)
    net.prefix = "fpn."
    levels = []
    for c, y, x in reversed(fpn_in):                     # P5 .. P2: lateral 1x1 + 3x3 output conv
        net.at(c, y, x).conv(256, 1, bias=True).conv(256, 3, bias=True)
        levels.append((y, x))
    levels.append((math.ceil(levels[0][0] / 2), math.ceil(levels[0][1] / 2)))       # P6 = max-pool of P5
    net.prefix = "rpn."
    for y, x in levels:
        rpn = net.at(256, y, x).conv(512, 3, bias=True)
        rpn.fork().conv(6, 1, bias=True, name="class")
        rpn.conv(12, 1, bias=True, name="bbox")
    p2 = levels[3]
    net.at(3, *p2, prefix="coords.").conv(64, 1, bias=True)
    box = net.at(320 * pool * pool, 1, 1, prefix="box.")
    box.n = proposals
    box.fc(1024).fc(1024)
    box.fork().fc(classes, name="class")
    box.fork().fc(4 * classes, name="bbox")
    box.fc(params * classes, name="plane")
    mask = net.at(256, mask_pool, mask_pool, prefix="mask.")
    mask.n = planes
    for _ in range(4):
        mask.conv(256, 3, bias=True)
    mask.deconv(256, 2, bias=True).conv(classes, 1, bias=True)
    depth = None                                         # depth decoder: coarse (P6) to fine (P2), then x2
    order = [levels[4], levels[0], levels[1], levels[2], levels[3]]     # P6, P5, P4, P3, P2
    for i, (y, x) in enumerate(order):
        net.at(256, y, x, prefix="depth.").conv(128, 3, bias=True, name="lateral")
        cin = 128 if depth is None else 256
        ny, nx = (order[i + 1] if i + 1 < len(order) else (y * 2, x * 2))
        depth = net.at(cin, ny, nx, prefix="depth.").conv(128 if i < 4 else 64, 3, bias=True, name="deconv")
    depth.conv(1, 3, bias=True, name="pred")
    ry, rx = refine                                      # refinement: per plane (n = planes) + global branch
    ref = net.at(3 + 5 + 2, ry, rx, prefix="refine.")
    ref.n = planes
    ref.conv(32, 3, bias=True)
    ref.set(c=64).conv(64, 3, stride=2, bias=True)
    ref.set(c=128).conv(64, 3, bias=True)
    ref.set(c=128).conv(128, 3, stride=2, bias=True)
    ref.set(c=256).conv(128, 3, bias=True)
    g = ref.fork()
    ref.deconv(64, 4, bias=True).set(c=128).deconv(32, 4, bias=True)
    ref.set(c=64).conv(16, 3, bias=True).conv(1, 3, bias=True)
    g.prefix, g.n = "refine.global.", 1
    g.deconv(64, 4, bias=True).set(c=128).deconv(32, 4, bias=True).set(c=64)
    g.fork().conv(16, 3, bias=True).conv(1, 3, bias=True)
    g.conv(16, 3, bias=True, name="depth").conv(1, 3, bias=True, name="depth")
    return net.layers
