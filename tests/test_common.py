"""Shared CLI helpers: sizes, config errors, atomic writes, provenance."""

from dataclasses import dataclass, field

import pytest

from chakra_tools.common import (
    ConfigError,
    ToolError,
    atomic_write,
    from_dict,
    load_mapping,
    parse_size,
    provenance,
)


@pytest.mark.parametrize("text,expected", [("4096", 4096), ("64MiB", 64 << 20), ("1GB", 10**9), ("1.5KiB", 1536),
                                           ("2 GiB", 2 << 30), (512, 512)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "abc", "12XB", "-1", "0.5B", True, "99999999999999999999999TiB", 2**63, float("nan")])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


@dataclass
class Inner:
    bandwidth: float
    dims: list[int] = field(default_factory=list)


@dataclass
class Outer:
    name: str
    inner: Inner

    def validate(self):
        if not self.name:
            raise ValueError("name must not be empty")


def test_config_error_names_file_and_key_path(tmp_path):
    f = tmp_path / "c.yml"
    f.write_text("name: x\ninner:\n  bandwidth: 1\n  dims: [1, two]\n")
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, load_mapping(f), file=f)
    assert str(e.value) == f"{f}: inner.dims[1]: expected an integer, got 'two'"


def test_config_unknown_and_missing_keys(tmp_path):
    with pytest.raises(ConfigError, match="inner.bw: unknown key"):
        from_dict(Outer, {"name": "a", "inner": {"bw": 1}}, file="f.yml")
    with pytest.raises(ConfigError, match="f.yml: inner: required key is missing"):
        from_dict(Outer, {"name": "a"}, file="f.yml")
    with pytest.raises(ConfigError, match="name must not be empty"):
        from_dict(Outer, {"name": "", "inner": {"bandwidth": 2}}, file="f.yml")


def test_malformed_yaml_names_line(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(ToolError, match=r"bad.yml: invalid YAML at line \d+"):
        load_mapping(f)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as fh:
        fh.write("ok")
    assert target.read_text() == "ok"


def test_atomic_outputs_get_the_permissions_of_a_plain_open(tmp_path):
    import os

    from chakra_tools.common import atomic_group, atomic_write
    (tmp_path / "plain").write_text("x")
    want = (tmp_path / "plain").stat().st_mode & 0o777
    with atomic_write(tmp_path / "a.json") as fh:
        fh.write("{}")
    with atomic_group([tmp_path / "g.0.et", tmp_path / "g.1.et"]) as tmps:
        for t in tmps:
            t.write_bytes(b"")
    for name in ("a.json", "g.0.et", "g.1.et"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == want, name


def test_provenance_hashes_inputs(tmp_path):
    f = tmp_path / "in.txt"
    f.write_bytes(b"abc")
    p = provenance("tool", [f], seed=3, argv=["x"])
    assert p["inputs"][0]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert p["seed"] == 3 and p["tool"] == "tool"


def test_atomic_group_undoes_its_renames_when_one_fails(tmp_path, monkeypatch):
    """All or nothing: the third rename fails, the first two outputs are rolled back (the one that existed
    before gets its old content back, the new one is removed), and no temporary file is left."""
    import os

    from chakra_tools import common

    (tmp_path / "g.0.et").write_bytes(b"old")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(common.os, "replace", flaky)
    targets = [tmp_path / f"g.{r}.et" for r in range(3)]
    with pytest.raises(ToolError, match=r"g\.2\.et: cannot write \(No space left on device\)"):
        with common.atomic_group(targets) as tmps:
            for t in tmps:
                t.write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.0.et"]
    assert (tmp_path / "g.0.et").read_bytes() == b"old"


@pytest.mark.parametrize("make,path,message", [
    (lambda d: (d / "out").mkdir(), "out", r"out: is a directory"),
    (lambda d: (d / "f").write_text(""), "f/x.json", r"f is not a directory"),
])
def test_atomic_write_names_the_users_path(tmp_path, make, path, message):
    make(tmp_path)
    with pytest.raises(ToolError, match=message), atomic_write(tmp_path / path) as fh:
        fh.write("x")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_a_directory_prefix_is_refused(tmp_path):
    from chakra_tools.common import atomic_group

    with pytest.raises(ToolError, match="the output prefix names a directory"), \
            atomic_group([f"{tmp_path}/.0.et", f"{tmp_path}/.1.et"]):
        pass
    assert list(tmp_path.iterdir()) == []


def test_distinct_outputs():
    from chakra_tools.common import check_distinct_outputs

    check_distinct_outputs({"-o": "a.json", "--timeline": "b.json", "--plot": None})
    with pytest.raises(ToolError, match="a.json: given for both -o and --timeline"):
        check_distinct_outputs({"-o": "a.json", "--timeline": "./a.json"})


def test_an_optional_section_names_the_key_inside_it(tmp_path):
    @dataclass
    class Dist:
        value: float = 0.0

    @dataclass
    class Cfg:
        slo: Dist | None = None

    with pytest.raises(ConfigError, match=r"c.yml: slo.value: expected a number, got 'x'"):
        from_dict(Cfg, {"slo": {"value": "x"}}, file="c.yml")
