"""Running a tool's `main(argv)` in-process from a test (exit code, stdout, stderr), and the one-line error rule."""

from __future__ import annotations


def run_main(main, capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code, err) -> str:
    """The run failed with exit 1 and exactly one stderr line; return it."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1, err
    return lines[0]

