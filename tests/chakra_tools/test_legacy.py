"""ETs written for Chakra's own feeder (data deps only): the hint every reader gives, and `chakra-convert upgrade`.

The fixture has the shape of Chakra's feeder test trace (schema 1.0.1, a GPU training step): host ops whose ctrl dep
is their call-tree parent, which the converter dropped; a host op whose ctrl dep is the kernel it launches, whose
data dep is the op (a cycle when both kinds are resolved); the host side of a c10d call written as a COMM_COLL
node with is_cpu_op true and no comm_type; the NCCL kernel as a collective with the old `involved_dim`."""

from __future__ import annotations

from pathlib import Path

from astrasim_py.cli import main as astra_main
from chakra_tools.cli_convert import main as convert_main
from chakra_tools.convert.legacy import data_deps_sound, legacy_hint, upgrade
from chakra_tools.et import CommType, GlobalMetadata, Node, NodeType, attrs_of, make_attr, read_et, write_et
from chakra_tools.synth.fit import fit

from ..cli_run import one_error, run_main

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ROOT / "examples" / "configs" / "chakra-synth" / "system.json"


def _node(i, name, typ, dur, data=(), ctrl=(), cpu=True, **attrs):
    n = Node(id=i, name=name, type=typ, duration_micros=dur, data_deps=list(data), ctrl_deps=list(ctrl))
    n.attr.append(make_attr("is_cpu_op", cpu))
    for k, v in attrs.items():
        n.attr.append(make_attr(k, v))
    return n


def legacy_nodes() -> list[Node]:
    comp, coll = NodeType.COMP_NODE, NodeType.COMM_COLL_NODE
    return [
        _node(10, "aten::conv2d", comp, 5, ctrl=[2], tid=1),                      # parent 2 was dropped
        _node(11, "implicit_convolve_sgemm", comp, 20, data=[10], ctrl=[10], cpu=False, tid=7),
        _node(12, "aten::mul", comp, 7, data=[10], ctrl=[13], tid=1),             # ctrl dep on its own kernel
        _node(13, "elementwise_kernel<MulFunctor>", comp, 30, data=[12], ctrl=[12], cpu=False, tid=7),
        _node(14, "c10d::broadcast_", coll, 3, data=[12], ctrl=[14], tid=1),     # host side, itself as parent
        _node(15, "ncclKernel_Broadcast_RING_LL", coll, 4, data=[14], ctrl=[14], cpu=False, tid=14,
              comm_type=int(CommType.BROADCAST), comm_size=1024, involved_dim=[True]),
    ]


def _write(tmp_path: Path, nodes, name="old") -> Path:
    meta = GlobalMetadata(version="0.0.4")
    meta.attr.append(make_attr("schema", "1.0.1"))
    write_et(tmp_path / f"{name}.0.et", meta, nodes)
    return tmp_path / name


def _one_npu(tmp_path: Path) -> Path:
    net = tmp_path / "net1.yml"
    net.write_text("topology: [ Ring ]\nnpus_count: [ 1 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n")
    return net


def test_readers_name_the_upgrade(tmp_path, capsys):
    old = _write(tmp_path, legacy_nodes())
    assert data_deps_sound(legacy_nodes()) and legacy_hint(legacy_nodes())
    code, _, err = run_main(convert_main, capsys, "validate", str(old))
    assert code == 1 and "note:" in err and "chakra-convert upgrade" in err and "dangling ctrl dep on 2" in err
    line = one_error(*run_main(astra_main, capsys, "--workload", str(old), "--system", str(SYSTEM),
                               "--network", str(_one_npu(tmp_path)), "-q")[::2])
    assert "depends on node 2" in line and "chakra-convert upgrade" in line


def test_no_hint_where_the_data_deps_are_broken_too():
    nodes = legacy_nodes()
    nodes[0].data_deps.append(12)  # 10 <- 12 <- 10: a data cycle, which Chakra's feeder would not run either
    assert not data_deps_sound(nodes) and legacy_hint(nodes) == ""
    nodes = legacy_nodes()
    nodes[1].data_deps.append(99)
    assert legacy_hint(nodes) == ""
    assert legacy_hint([_node(1, "a", NodeType.COMP_NODE, 1)]) == ""  # no ctrl deps: nothing to upgrade


def test_upgrade_runs_as_chakras_feeder_did(tmp_path, capsys):
    """Ctrl deps dropped, the host-side c10d node a compute node, everything else byte-for-byte; then it validates
    and simulates: worked by hand with one CPU lane, one GPU compute lane and the comm lane (µs):
    conv 0-5 (CPU); its kernel 5-25 (GPU) while mul runs 5-12 (CPU); mul's kernel waits for the GPU: 25-55;
    the host broadcast 12-15 (CPU); the NCCL broadcast, replayed by its duration, 15-19. The step: 55 µs."""
    old = _write(tmp_path, legacy_nodes())
    code, _, err = run_main(convert_main, capsys, "upgrade", str(old), "-o", str(tmp_path / "new"))
    assert code == 0, err
    assert "dropped 6 ctrl deps, 1 host-side communication node(s) now compute" in err
    _, new = read_et(tmp_path / "new.0.et")
    for a, b in zip(legacy_nodes(), new, strict=True):
        assert not b.ctrl_deps and list(b.data_deps) == list(a.data_deps)
        assert (a.id, a.name, a.duration_micros, list(a.attr)) == (b.id, b.name, b.duration_micros, list(b.attr))
        want = NodeType.COMP_NODE if a.id == 14 else a.type
        assert b.type == want
    assert attrs_of(new[4])["is_cpu_op"] is True
    assert run_main(convert_main, capsys, "validate", str(tmp_path / "new"))[0] == 0
    code, out, err = run_main(astra_main, capsys, "--workload", str(tmp_path / "new"), "--system", str(SYSTEM),
                              "--network", str(_one_npu(tmp_path)), "--json", "-q")
    assert code == 0, err
    assert '"sim_time_ns": 55000' in out.replace(" ", "") or '"sim_time_ns":55000' in out.replace(" ", "")
    model = fit([str(tmp_path / "new")])
    assert {"COMP:conv", "GPU:conv", "COMP:elementwise", "GPU:elementwise"} <= set(model["kinds"])


def test_upgrade_refuses_a_trace_whose_data_deps_cycle(tmp_path, capsys):
    nodes = legacy_nodes()
    nodes[0].data_deps.append(12)
    old = _write(tmp_path, nodes)
    line = one_error(*run_main(convert_main, capsys, "upgrade", str(old), "-o", str(tmp_path / "new"))[::2])
    assert "data deps alone dangle or cycle" in line and "old.0.et" in line
    assert not list(tmp_path.glob("new*"))


def test_upgrade_keeps_a_current_trace():
    nodes = [_node(1, "a", NodeType.COMP_NODE, 1), _node(2, "b", NodeType.COMP_NODE, 1, data=[1])]
    new, rep = upgrade(nodes)
    assert [n.SerializeToString() for n in new] == [n.SerializeToString() for n in nodes]
    assert (rep.ctrl_deps_dropped, rep.host_comm_retyped) == (0, 0)


def test_a_ctrl_cycle_alone_gets_the_hint_from_astra_run(tmp_path, capsys):
    """Only the op <-> kernel cycle, no dangling parent: astra-run's deadlock names the file, the cycle and the fix."""
    nodes = legacy_nodes()[:4]
    del nodes[0].ctrl_deps[:]
    old = _write(tmp_path, nodes)
    line = one_error(*run_main(astra_main, capsys, "--workload", str(old), "--system", str(SYSTEM),
                               "--network", str(_one_npu(tmp_path)), "-q")[::2])
    assert "old.0.et: cyclic dependencies: 12 -> 13 -> 12" in line and "chakra-convert upgrade" in line


def test_upgrade_names_a_duplicate_id_and_warns_on_a_current_trace(tmp_path, capsys):
    nodes = legacy_nodes()
    nodes[1].id = 10
    line = one_error(*run_main(convert_main, capsys, "upgrade", str(_write(tmp_path, nodes)), "-o",
                               str(tmp_path / "new"))[::2])
    assert "duplicate node id 10" in line
    current = [_node(1, "a", NodeType.COMP_NODE, 1), _node(2, "b", NodeType.COMP_NODE, 1, data=[1], ctrl=[1])]
    code, _, err = run_main(convert_main, capsys, "upgrade", str(_write(tmp_path, current, "cur")), "-o",
                            str(tmp_path / "cur2"))
    assert code == 0 and "already sound for ASTRA-sim's feeder_v3" in err
