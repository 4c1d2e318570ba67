"""`python -m chakra_tools.regress ACTUAL.json EXPECTED.json [--rtol R] [--atol A]`: the --expect check of every
tool, for reports a script wrote (examples, CI). Exit 1 with a readable diff when a figure moved."""

from __future__ import annotations

import click

from chakra_tools.common import check_expected, load_data, tool_main


@click.command()
@click.argument("actual", type=click.Path(dir_okay=False))
@click.argument("expected", type=click.Path(dir_okay=False))
@click.option("--rtol", type=float, default=0.01, show_default=True)
@click.option("--atol", type=float, default=0.0, show_default=True)
def cli(actual, expected, rtol, atol):
    check_expected(load_data(actual), expected, rtol, atol, "regress")


main = tool_main("regress")(cli)

if __name__ == "__main__":
    main()
