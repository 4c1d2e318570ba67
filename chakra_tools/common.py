"""Helpers shared by every tool: errors, config loading, atomic writes, units, console, provenance.

Every CLI in the toolchain imports this module; nothing here knows about a particular tool.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import gc
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

__version__ = "0.1.0"

T = TypeVar("T")


# --------------------------------------------------------------------------- errors
class ToolError(Exception):
    """A user-facing failure: bad input, impossible config, failed check. Printed as one line, exit 1."""


class ConfigError(ToolError):
    """A config value is missing or has the wrong type; the message names file and key path."""

    def __init__(self, file: str | os.PathLike | None, key: str, problem: str):
        where = f"{file}: " if file else ""
        keypart = f"{key}: " if key else ""
        super().__init__(f"{where}{keypart}{problem}")
        self.file, self.key, self.problem = file, key, problem


# --------------------------------------------------------------------------- units
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")



@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around work that allocates millions of small acyclic objects (parsed
    trace records, synthesized transfers): its generation scans over them cost 30-50 % of such runs."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_size(text: str | int | float) -> int:
    """Bytes from `4096`, `64MiB`, `1GB` (decimal), `1.5GiB`. Raises ValueError on nonsense."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"size must be >= 0, got {text}")
        return _bounded(text, text)
    if isinstance(text, float):
        if not text >= 0 or text != int(text):  # NaN and inf fail here too
            raise ValueError(f"size must be a whole number of bytes >= 0, got {text}")
        return _bounded(int(text), text)
    m = _SIZE_RE.match(str(text))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 4096, 64MiB, 1GB)")
    value = float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    if value != int(value):
        raise ValueError(f"size {text!r} is not a whole number of bytes")
    return _bounded(int(value), text)


MAX_SIZE = 2**63 - 1  # the largest byte count an ET (int64/uint64 attributes) and a timestamp in ns can hold


def _bounded(n: int, text: object) -> int:
    if n > MAX_SIZE:
        raise ValueError(f"size {text!r} is too large (at most 2^63 - 1 bytes)")
    return n


def format_size(nbytes: float) -> str:
    """Human size with binary units: 1048576 -> '1 MiB'."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(nbytes) >= factor:
            v = nbytes / factor
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.2f} {unit}"
    return f"{int(nbytes)} B"


class SizeParam(click.ParamType):
    """click parameter type for sizes (`64MiB`)."""

    name = "size"

    def convert(self, value, param, ctx):
        try:
            return parse_size(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


SIZE = SizeParam()


class FiniteFloat(click.ParamType):
    """click parameter type for a finite number, optionally bounded below (`min`, excluded when `min_open`)."""

    name = "number"

    def __init__(self, min: float | None = None, min_open: bool = False):
        self.min, self.min_open = min, min_open

    def convert(self, value, param, ctx):
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if v != v or v in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and (v < self.min or (self.min_open and v == self.min)):
            self.fail(f"{value!r} must be {'>' if self.min_open else '>='} {self.min:g}", param, ctx)
        return v


NON_NEGATIVE = FiniteFloat(min=0.0)
POSITIVE = FiniteFloat(min=0.0, min_open=True)
PLOT_FORMATS = (".png", ".svg", ".pdf")


def figure_format(path: str | os.PathLike) -> str | None:
    """The format a figure path names ("png", "svg", "pdf"), or None for any other extension."""
    suffix = Path(path).suffix.lower()
    return suffix[1:] if suffix in PLOT_FORMATS else None


class PlotPath(click.ParamType):
    """click parameter type for a figure output: a path ending in .png, .svg or .pdf (checked before any work)."""

    name = "figure"

    def convert(self, value, param, ctx):
        if figure_format(value) is None:
            self.fail(f"{value}: expected a {', '.join(PLOT_FORMATS)} file name", param, ctx)
        return Path(value)


PLOT = PlotPath()

# what makes two renderings of the same figure differ: a creation date, the writing software's version, random
# SVG ids (hashsalt fixes them)
_FIGURE_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}}


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write a matplotlib figure atomically in the format its extension names (.png, .svg, .pdf): the same figure
    gives the same bytes (no dates, fixed SVG ids). ToolError for another extension."""
    fmt = figure_format(path)
    if fmt is None:
        raise ToolError(f"{path}: a figure is written as .png, .svg or .pdf")
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "chakra-tools"}), atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, metadata=_FIGURE_METADATA[fmt], **kwargs)


# --------------------------------------------------------------------------- config loading
def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The UTF-8 text of `path`; a missing, unreadable or binary file is a one-line ToolError naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(f"{p}: file not found") from None
    except IsADirectoryError:
        raise ToolError(f"{p}: is a directory, expected a {what}") from None
    except UnicodeDecodeError:
        raise ToolError(f"{p}: not a text file (invalid UTF-8)") from None
    except OSError as e:
        raise ToolError(f"{p}: cannot read ({e.strerror})") from None


def read_csv_rows(path: str | os.PathLike, what: str = "CSV file") -> list[list[str]]:
    """All rows of a CSV file (header included), with read and parse errors as one-line ToolErrors."""
    try:
        return list(csv.reader(io.StringIO(read_text(path, what), newline="")))
    except csv.Error as e:
        raise ToolError(f"{path}: malformed CSV ({e})") from None


def load_data(path: str | os.PathLike) -> Any:
    """Parse a YAML or JSON file (YAML is a superset of JSON). Errors name the file and the line."""
    p = Path(path)
    text = read_text(p)
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ToolError(f"{p}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ToolError(f"{p}: invalid YAML{where}: {problem}") from None


def load_mapping(path: str | os.PathLike) -> dict:
    """Load a config file whose top level must be a mapping."""
    data = load_data(path)
    if data is None:
        raise ConfigError(path, "", "file is empty, expected a mapping")
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a mapping at the top level, got {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _join(key: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{key}[{part}]"
    return f"{key}.{part}" if key else str(part)


def convert_value(value: Any, tp: Any, file: Any, key: str) -> Any:
    """Check/convert one config value against a type annotation; raise ConfigError naming file + key."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        alternatives = [a for a in args if a is not type(None)]
        if len(alternatives) == 1:  # `X | None`: X's own error, which names the key inside X that is wrong
            return convert_value(value, alternatives[0], file, key)
        errors = []
        for a in alternatives:
            try:
                return convert_value(value, a, file, key)
            except ConfigError as e:
                errors.append(e.problem)
        raise ConfigError(file, key, " or ".join(dict.fromkeys(errors)))
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(file, key, f"expected one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (list, Sequence, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(file, key, f"expected a list, got {_kind(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(file, key, f"expected a list of {len(args)} items, got {len(value)}")
            return tuple(convert_value(v, a, file, _join(key, i)) for i, (v, a) in enumerate(zip(args, value, strict=False)))
        inner = args[0] if args else Any
        out = [convert_value(v, inner, file, _join(key, i)) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"expected a mapping, got {_kind(value)}")
        kt, vt = args if args else (Any, Any)
        return {convert_value(k, kt, file, key): convert_value(v, vt, file, _join(key, str(k))) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, file=file, key=key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        raise ConfigError(file, key, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and (value != value or abs(value) == float("inf") or value != int(value))):
            raise ConfigError(file, key, f"expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(file, key, f"expected a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(file, key, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(file, key, f"expected a string, got {_kind(value)}")
        return value
    if isinstance(tp, type) and issubclass(tp, Path):
        if not isinstance(value, str):
            raise ConfigError(file, key, f"expected a path string, got {_kind(value)}")
        base = Path(file).parent if file else Path(".")
        return base / value
    return value


def from_dict(cls: type[T], data: Any, *, file: Any = None, key: str = "", strict: bool = True) -> T:
    """Build dataclass `cls` from a mapping, validating every field.

    Keys may use `-` or `_`. Unknown keys are an error when `strict`. Each dataclass may define
    `validate(self)` raising ValueError; the message is reported with file and key path.
    """
    if not isinstance(data, dict):
        raise ConfigError(file, key, f"expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    seen = set()
    for raw_key, value in data.items():
        name = str(raw_key).replace("-", "_")
        if name not in fields:
            if strict:
                known = ", ".join(sorted(fields))
                raise ConfigError(file, _join(key, str(raw_key)), f"unknown key (known keys: {known})")
            continue
        seen.add(name)
        kwargs[name] = convert_value(value, hints[name], file, _join(key, str(raw_key)))
    for name, f in fields.items():
        if name not in seen and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(file, _join(key, name), "required key is missing")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as e:
            raise ConfigError(file, key, str(e)) from None
    return obj


def load_config(cls: type[T], path: str | os.PathLike, *, strict: bool = True) -> T:
    """Load a YAML/JSON file into dataclass `cls` with file + key-path errors."""
    return from_dict(cls, load_mapping(path), file=path, strict=strict)


# --------------------------------------------------------------------------- atomic output
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _temp_beside(target: Path) -> Path:
    """An empty temporary file next to `target`, with the permissions a plain open() would give the output
    (mkstemp makes it 0600, which the rename would carry over to the user's file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    return Path(tmp)


def _not_a_file_place(target: Path) -> str | None:
    """Why `target` cannot be written as a file (it is a directory, or its nearest existing ancestor is a file),
    else None."""
    if target.is_dir():
        return "is a directory"
    ancestor = next((a for a in target.parents if a.exists()), None)
    return f"{ancestor} is not a directory" if ancestor is not None and not ancestor.is_dir() else None


def _prepare_target(target: Path) -> None:
    """Create the parent directories of an output; a one-line error naming the user's path when it cannot be
    a file there (a directory, or a parent that is a file)."""
    problem = _not_a_file_place(target)
    if problem:
        raise ToolError(f"{target}: {problem}")
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_EXPECT_KEY) == target.resolve():
        raise ToolError(f"{target}: refusing to overwrite the --expect report")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"{target}: cannot create its directory {parent} ({e.strerror or e})") from None


def _replace(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as e:
        raise ToolError(f"{target}: cannot write ({e.strerror or e})") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, on failure delete it."""
    target = Path(path)
    _prepare_target(target)
    tmp_path = _temp_beside(target)
    try:
        yield tmp_path
        _replace(tmp_path, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(e, OSError) and e.filename is not None and Path(e.filename) == tmp_path:
            # writing the hidden temporary failed (disk full, ...): name the user's file, not the temporary
            raise ToolError(f"{target}: cannot write ({e.strerror or e})") from None
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None):
    """Open a file for writing that appears at `path` only when the block finishes without error."""
    binary = "b" in mode
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if binary else encoding,
                                        newline=None if binary else newline) as fh:
        yield fh


@contextlib.contextmanager
def atomic_group(paths: Iterable[str | os.PathLike]) -> Iterator[list[Path]]:
    """Several outputs that appear together or not at all (e.g. one .et per rank): if one rename fails, the ones
    done are undone (a file that was there before is put back)."""
    targets = [Path(p) for p in paths]
    if targets and all(t.name.startswith(".") for t in targets) and targets[0].parent.is_dir():
        # PREFIX.0.et etc. with a PREFIX that names a directory ("out/"): files named ".0.et" are never meant
        raise ToolError(f"{targets[0].parent}/: the output prefix names a directory (give e.g. "
                        f"{targets[0].parent / 'trace'})")
    tmps: list[Path] = []
    backups: dict[Path, Path | None] = {}  # target -> hard link to its previous content (None: it was new)
    try:
        for t in targets:
            _prepare_target(t)
            tmps.append(_temp_beside(t))
        yield tmps
        for tmp, t in zip(tmps, targets, strict=False):
            backups[t] = _backup(t)
            _replace(tmp, t)
    except BaseException:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        for t, old in backups.items():  # undo the renames already done
            with contextlib.suppress(OSError):
                if old is None:
                    t.unlink()
                else:
                    os.replace(old, t)
        raise
    finally:
        for old in backups.values():
            if old is not None:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()


def _backup(target: Path) -> Path | None:
    """A hard link to `target`'s current content beside it (None if there is none, or links are unsupported)."""
    if not target.is_file():
        return None
    name = target.with_name(f".{target.name}.{os.getpid()}.old")
    try:
        os.link(target, name)
    except OSError:
        return None
    return name


def check_distinct_outputs(outputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Before any work: refuse two output options naming the same file ({option: path}; one would overwrite the
    other) and an output that cannot be a file (a directory, or under a file)."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        problem = _not_a_file_place(Path(path))
        if problem:
            raise ToolError(f"{path}: {problem} ({option})")
        p = Path(path).resolve()
        if p in seen:
            raise ToolError(f"{path}: given for both {seen[p]} and {option}")
        seen[p] = option


def check_not_input(output: str | os.PathLike | None, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse to overwrite an input file with an output."""
    if output is None:
        return
    out = Path(output).resolve()
    for i in inputs:
        if i is not None and Path(i).resolve() == out:
            raise ToolError(f"{output}: refusing to overwrite an input file")


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys are NOT imposed: report key order is part of the interface)."""
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n"


def _json_default(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, Path):
        return str(o)
    try:
        import numpy as np
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write a JSON report atomically."""
    text = dumps_json(obj)
    with atomic_write(path) as fh:
        fh.write(text)


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], fieldnames: Sequence[str] | None = None) -> None:
    """Write rows as CSV atomically (column order = `fieldnames` or the first row's keys)."""
    if fieldnames is None:
        fieldnames = list(rows[0].keys()) if rows else []
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_cell(v) for k, v in r.items()})
    with atomic_write(path, newline="") as fh:
        fh.write(buf.getvalue())


def _csv_cell(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v) if v == v else "nan"
    return v


# --------------------------------------------------------------------------- provenance
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(tool: str, inputs: Iterable[str | os.PathLike | None] = (), seed: int | None = None,
               argv: Sequence[str] | None = None) -> dict:
    """The provenance block every report carries: tool, version, inputs with SHA-256, seed, command line.

    Inputs are recorded as given (relative paths stay relative) so reports are reproducible byte for byte.
    """
    files = []
    for p in inputs:
        if p is None:
            continue
        path = Path(p)
        if path.is_file():
            files.append({"path": str(p), "sha256": sha256_file(path)})
    return {
        "tool": tool,
        "version": __version__,
        "inputs": files,
        "seed": seed,
        "command": [Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)],
    }


# --------------------------------------------------------------------------- console
stdout_console = Console(highlight=False, soft_wrap=True)
stderr_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, quiet: bool = False) -> None:
    """Human summary table on stdout."""
    if quiet:
        return
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(str(c), justify="left" if c == columns[0] else "right")
    for r in rows:
        table.add_row(*(_fmt_cell(v) for v in r))
    stdout_console.print(table)


def _fmt_cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def info(msg: str, *, quiet: bool = False) -> None:
    """A diagnostic line on stderr."""
    if not quiet:
        stderr_console.print(msg, markup=False)


def warn(msg: str) -> None:
    stderr_console.print(f"warning: {msg}", markup=False)


@contextlib.contextmanager
def progress(description: str, total: int | None, *, quiet: bool = False):
    """A rich progress bar on stderr when it is a terminal; otherwise a no-op advance callback."""
    if quiet or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=stderr_console, transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


# --------------------------------------------------------------------------- CLI glue
def tool_main(tool: str) -> Callable[[click.Command], Callable[..., None]]:
    """Wrap a click command/group into a `main()` console entry point with our error conventions.

    ToolError, missing files and malformed inputs print `tool: error: ...` as one line and exit 1;
    `--debug` anywhere on the command line shows the traceback instead.
    """
    def wrap(cmd: click.Command) -> Callable[..., None]:
        def main(argv: Sequence[str] | None = None) -> None:
            args = list(sys.argv[1:] if argv is None else argv)
            debug = "--debug" in args
            try:
                cmd.main(args=args, prog_name=tool, standalone_mode=False)
            except click.exceptions.Abort:
                stderr_console.print(f"{tool}: aborted", markup=False)
                sys.exit(1)
            except click.ClickException as e:
                e.show()
                sys.exit(e.exit_code)
            except click.exceptions.Exit as e:
                sys.exit(e.exit_code)
            except (ToolError, OSError, ValueError, KeyError, RecursionError, MemoryError, OverflowError) as e:
                if debug:
                    raise
                stderr_console.print(f"{tool}: error: {one_line(e)}", markup=False)
                sys.exit(1)
            except KeyboardInterrupt:
                stderr_console.print(f"{tool}: interrupted", markup=False)
                sys.exit(130)
            except Exception as e:  # a bug: still one line unless --debug
                if debug:
                    raise
                stderr_console.print(f"{tool}: internal error: {type(e).__name__}: {one_line(e)} "
                                     "(rerun with --debug for a traceback)", markup=False)
                sys.exit(1)
            sys.exit(0)
        main.command = cmd  # type: ignore[attr-defined]
        return main
    return wrap


def one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    text = str(e) or type(e).__name__
    return " ".join(text.split())


def common_options(f: Callable) -> Callable:
    """`--debug` and `-q/--quiet` on a command (the `--debug` flag is also read by tool_main)."""
    f = click.option("--debug", is_flag=True, hidden=False, help="Show tracebacks on errors.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No human summary or progress output.")(f)
    return f


def version_option(tool: str) -> Callable:
    return click.version_option(__version__, "--version", prog_name=tool, message="%(prog)s %(version)s")


def emit_report(report: Mapping[str, Any], *, output: str | os.PathLike | None, as_json: bool) -> None:
    """Write the JSON report to `-o` (atomically) and/or print it to stdout with `--json`."""
    if output is not None:
        write_json(output, report)
    if as_json:
        click.echo(dumps_json(report), nl=False)


def require_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise ToolError(f"{p}: file not found")
    if p.is_dir():
        raise ToolError(f"{p}: is a directory, expected a file")
    return p


@functools.cache
def package_data(package: str, name: str) -> Path:
    """Path of a data file shipped inside a package (presets, scenarios)."""
    import importlib.resources as r
    return Path(str(r.files(package).joinpath(name)))


# --------------------------------------------------------------------------- regression checks
def compare_reports(actual: Any, expected: Any, *, rtol: float = 0.01, atol: float = 0.0,
                    ignore: Iterable[str] = ("provenance",), path: str = "") -> list[str]:
    """Differences between two JSON reports: numbers within rtol/atol match; other values must be equal.

    Returns readable lines `key.path: expected X, got Y (+3.2%)`; keys named in `ignore` are skipped at any depth.
    """
    ignore = tuple(ignore)
    out: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            if k in ignore:
                continue
            p = _join(path, k)
            if k not in actual:
                out.append(f"{p}: missing (expected {_short(v)})")
            else:
                out.extend(compare_reports(actual[k], v, rtol=rtol, atol=atol, ignore=ignore, path=p))
        for k in actual:
            if k not in expected and k not in ignore:
                out.append(f"{_join(path, k)}: unexpected key (value {_short(actual[k])})")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"{path or '.'}: expected {len(expected)} items, got {len(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
            out.extend(compare_reports(a, e, rtol=rtol, atol=atol, ignore=ignore, path=_join(path, i)))
        return out
    num = (int, float)
    if isinstance(expected, num) and isinstance(actual, num) and not isinstance(expected, bool) \
            and not isinstance(actual, bool):
        if abs(actual - expected) > atol + rtol * abs(expected):
            rel = f" ({(actual - expected) / expected:+.2%})" if expected else ""
            out.append(f"{path or '.'}: expected {expected}, got {actual}{rel}")
        return out
    if actual != expected:
        out.append(f"{path or '.'}: expected {_short(expected)}, got {_short(actual)}")
    return out


def _short(v: Any) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= 60 else s[:57] + "..."


def regression_options(f: Callable) -> Callable:
    """`--expect FILE [--rtol R] [--atol A]`: compare this run's report with a stored one (CI regression gate)."""
    f = click.option("--atol", type=NON_NEGATIVE, default=0.0, show_default=True,
                     help="Absolute tolerance for --expect.")(f)
    f = click.option("--rtol", type=NON_NEGATIVE, default=0.01, show_default=True,
                     help="Relative tolerance for numbers in --expect.")(f)
    f = click.option("--expect", "expect", type=click.Path(dir_okay=False), default=None, callback=_read_expected,
                     help="Expected report JSON: exit 1 with a diff if this run's figures moved beyond tolerance.")(f)
    return f


class ExpectedReport(str):
    """The `--expect` path, with the report it holds already parsed (`.data`)."""

    def __new__(cls, path: str, data: dict) -> ExpectedReport:
        self = super().__new__(cls, path)
        self.data = data
        return self


_EXPECT_KEY = "chakra_tools.expect"  # click context meta: the resolved --expect path, which no output may replace


def _read_expected(ctx: click.Context, _param: click.Parameter, value: str | None) -> ExpectedReport | None:
    # parsed while the options are read, so a missing or malformed file fails before any work or output
    if value is None:
        return None
    ctx.meta[_EXPECT_KEY] = Path(value).resolve()
    return ExpectedReport(value, load_mapping(value))


def check_expected(report: Mapping[str, Any], expect: str | os.PathLike | None, rtol: float, atol: float,
                   tool: str = "", inputs: Iterable[str] = ()) -> None:
    """Raise ToolError (exit 1) listing every figure that moved, if `expect` is given. `inputs`: top-level keys
    that name the input files (provenance, like `provenance` itself: a gate saved in one checkout or directory
    holds for the same files spelled another way)."""
    if expect is None:
        return
    expected = expect.data if isinstance(expect, ExpectedReport) else load_data(expect)
    actual = json.loads(dumps_json(report))
    if inputs and isinstance(expected, dict):
        expected = {k: v for k, v in expected.items() if k not in inputs}
        actual = {k: v for k, v in actual.items() if k not in inputs}
    diffs = compare_reports(actual, expected, rtol=rtol, atol=atol)
    if diffs:
        for d in diffs[:50]:
            stderr_console.print(f"  {d}", markup=False)
        more = " (first 50 shown)" if len(diffs) > 50 else ""
        raise ToolError(f"{expect}: {len(diffs)} figure(s) differ from the expected report "
                        f"(rtol {rtol}, atol {atol}){more}")
    info(f"{tool + ': ' if tool else ''}report matches {expect} (rtol {rtol}, atol {atol})")


GZIP_MAGIC = b"\x1f\x8b"


class _GzipReader:
    """A gzip stream whose read() turns corrupt or truncated data into a one-line ToolError naming the file."""

    def __init__(self, path: Path):
        import gzip

        self.path = path
        self._fh = gzip.open(path, "rb")

    def read(self, n: int = -1) -> bytes:
        import zlib

        try:
            return self._fh.read(n)
        except (OSError, EOFError, zlib.error) as e:
            raise ToolError(f"{self.path}: corrupt gzip data ({e})") from None

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _GzipReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: str | os.PathLike, what: str):
    """A binary reader of an input file, gzip-compressed or not (PyTorch ETs and Kineto traces are often saved as
    .json.gz): read(n) and close(). A missing file or a directory is a one-line ToolError; `what` names the
    expected content."""
    p = Path(path)
    try:
        fh = open(p, "rb")
    except FileNotFoundError:
        raise ToolError(f"{p}: file not found") from None
    except IsADirectoryError:
        raise ToolError(f"{p}: is a directory, expected {what}") from None
    if fh.peek(2)[:2] != GZIP_MAGIC:  # peek: a pipe (`<(zcat ...)`) cannot seek back
        return fh
    fh.close()
    return _GzipReader(p)


def read_input(path: str | os.PathLike, what: str) -> bytes:
    """The whole content of an input file, decompressed when it is gzip (see open_input)."""
    fh = open_input(path, what)
    try:
        return fh.read()
    finally:
        fh.close()
