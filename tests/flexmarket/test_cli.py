"""`flexmarket clear FILE [--json]`."""

import json
import subprocess
import sys

from terminal import flexmarket

from oracle import clear, load_scenario
from tests.oracle.oracle_helpers import FLECH, ROOT


def run(*args):
    proc = flexmarket(*args)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_table_shows_awards_unmet_and_cost():
    out = run("clear", str(FLECH)).stdout
    assert "FO2B2" in out and "13,200 W" in out
    assert "every need met" in out
    assert "27,960 EUR" in out


def test_json_is_the_canonical_result():
    out = run("clear", str(FLECH), "--json").stdout
    expected = clear(load_scenario(FLECH))
    assert out.strip() == expected.to_json()
    data = json.loads(out)
    assert data["schema"] == "flexmarket.result/1"
    assert data["total_cost_ueur"] == 27_960_000_000


# --- issue 11 item 18: control characters never reach the terminal -----------------------

from oracle.display import EscapingWriter, printable  # noqa: E402
from tests.oracle.oracle_helpers import flech  # noqa: E402

EVIL_BID = "FO2B2\x1b]0;pwned\x07\x1b[2J"
EVIL_MARKET = "T1\rREWRITTEN\u202e"


def _evil_file(tmp_path):
    data = flech()
    data["bids"][2]["id"] = EVIL_BID
    data["market"]["id"] = EVIL_MARKET
    data["bids"].append(dict(data["bids"][0], id="BAD\x9b31m", seller="NOBODY\x1b[5m"))
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    return path


def _assert_no_controls(text):
    assert not any(c in text for c in "\x1b\x07\r\x9b\u202e"), repr(text)


def test_control_characters_in_ids_are_escaped_in_the_table(tmp_path):
    out = run("clear", str(_evil_file(tmp_path))).stdout
    _assert_no_controls(out)
    assert "FO2B2\\u001b]0;pwned\\u0007\\u001b[2J" in out
    assert "market T1\\u000dREWRITTEN\\u202e" in out
    assert "BAD\\u009b31m" in out and "seller NOBODY\\u001b[5m" in out


def test_json_output_stays_exact(tmp_path):
    path = _evil_file(tmp_path)
    out = run("clear", str(path), "--json").stdout
    assert out.strip() == clear(load_scenario(path)).to_json()
    ids = [a["bid"] for a in json.loads(out)["awards"]]
    assert EVIL_BID in ids


def test_error_messages_are_escaped(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "flexmarket", "clear", str(tmp_path / "x\x1b[2J\r.json")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 2
    _assert_no_controls(proc.stderr)
    assert "x\\u001b[2J\\u000d.json" in proc.stderr


def test_printable_escapes_values_and_keeps_newlines_of_messages_only():
    assert printable("a\nb\tc\x7f") == "a\\u000ab\\u0009c\\u007f"
    assert printable("a\nb\tc\x1b", newlines=True) == "a\nb\tc\\u001b"
    assert printable("héllo wörld, 27,960 EUR µ") == "héllo wörld, 27,960 EUR µ"
    assert json.loads(printable(json.dumps("\x1b\u202e"))) == "\x1b\u202e"


def test_the_escaping_writer_guards_every_print(capsys):
    import sys as _sys

    writer = EscapingWriter(_sys.stdout)
    print("id \x1b[31mred\x1b[0m\nnext", file=writer)
    assert capsys.readouterr().out == "id \\u001b[31mred\\u001b[0m\nnext\n"


def test_a_traceback_is_escaped_too(monkeypatch, capsys):
    from flexmarket import cli

    def boom(args):
        raise RuntimeError("bid \x1b]0;owned\x07 broke")

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda command=None: _with_run(parser(), boom))
    assert cli.main(["clear", "x"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: bid \\u001b]0;owned\\u0007 broke" in err and "\x1b" not in err


def _with_run(parser, run):
    parser.set_defaults(run=run)
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(run=run)
    return parser


# --- issue 20: a newcomer's first hour ----------------------------------------------------

import argparse  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
from terminal import run_on_terminal  # noqa: E402

from flexmarket import cli  # noqa: E402
from oracle.display import HelpFormatter, ProgressHandler, progress, show_progress  # noqa: E402


def test_version():
    out = flexmarket("--version")
    assert out.returncode == 0 and out.stdout.strip() == "flexmarket 0.1.0"


def test_a_mistyped_option_shows_the_subcommands_usage():
    out = flexmarket("clear", "examples/flech_powermax.json", "--jsn")
    assert out.returncode == 2
    assert "usage: flexmarket clear" in out.stderr
    assert "unrecognized arguments: --jsn" in out.stderr
    assert "COMMAND" not in out.stderr  # not the top-level usage


def _module_parsers():
    top = cli.build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"flexmarket": top, **sub.choices}


@pytest.mark.parametrize("name", ["flexmarket", "clear", "demo", "needs", "oracle", "validate",
                                  "verify", "replay", "index", "serve"])  # fmt: skip
def test_every_option_has_help_and_shows_its_default(name):
    parser = _module_parsers()[name]
    assert parser.formatter_class is HelpFormatter or name == "flexmarket"
    parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or not action.option_strings:
            continue
        assert action.help, f"{name} {action.option_strings}: no help"
        if action.default not in (None, False, argparse.SUPPRESS):
            shown = parser._get_formatter()._get_help_string(action)
            assert "default" in shown, f"{name} {action.option_strings}: default not shown"


def test_serve_help_is_for_users_not_a_docstring():
    out = flexmarket("serve", "-h")
    assert out.returncode == 0
    assert "create_app" not in out.stdout and "starts a\nlocal anvil chain" in out.stdout
    assert "(default: 8000)" in out.stdout


def test_money_is_rounded_to_the_cent_not_truncated():
    assert cli._fmt_ueur(6_565_719_000) == "6,565.72 EUR"  # truncated it was 6,565.71
    assert cli._fmt_ueur(6_565_704_999) == "6,565.70 EUR"
    assert cli._fmt_ueur(6_150_000_000) == "6,150 EUR"
    assert cli._fmt_ueur(4_999) == "0 EUR" and cli._fmt_ueur(5_000) == "0.01 EUR"
    # parts that add up exactly: no note; rounded parts that do not: the note says so
    assert cli._rounding_note([6_565_710_000, 10_844_290_000], 17_410_000_000) == []
    note = cli._rounding_note([6_565_705_000, 10_844_285_000], 17_409_990_000)
    assert len(note) == 1 and "17,410.00 EUR" in note[0] and "17,409,990,000 µEUR" in note[0]


def test_balance_columns_line_up_on_the_decimal_point():
    chain = {"chain_id": 31337, "session_id": 1, "contracts": {}, "gas": {}, "tx": {},
             "balances_ueur": {"A": 6_150_000_000, "B": 123_456_789_012, "C": 5_000},
             "payments_ueur": {"DSO1": 6_565_705_000, "TSO1": 10_844_285_000}}  # fmt: skip
    text = cli.render_chain(chain)
    import re

    rows = [ln for ln in text.splitlines() if re.match(r"  \S+ +[\d,]+\.\d\d EUR", ln)]
    points = {ln.index(" EUR") for ln in rows}
    assert len(rows) == 6 and len(points) == 1, text  # 3 balances, 2 payments, their total
    assert "total" in text and "rounded to the cent" in text


def test_conflicts_print_as_words_not_python_dicts():
    out = run("clear", "examples/tso_dso_three_areas.json").stdout
    conflicts = out[out.index("conflicts:"):]
    assert "{" not in conflicts and "'" not in conflicts
    assert "split DSO1 20,000 W, TSO1 20,000 W; shared 20,000 W" in conflicts


def test_needs_checks_its_arguments_before_loading_the_grid(monkeypatch, capsys):
    from oracle.grid import needs

    def never(*args, **kwargs):
        raise AssertionError("the grid was loaded before the arguments were checked")

    monkeypatch.setattr(needs, "build_model", never)
    cases = [
        (["--grid", "no-such-grid", "--day", "2016-05-26"],
         "--grid: 'no-such-grid' is neither a SimBench code nor a file"),
        (["--grid", "1-LV-semiurb4--2-sw"], "--day: 1-LV-semiurb4--2-sw has profiles"),
        (["--grid", "missing.json", "--day", "2016-05-26"], "--grid: file 'missing.json'"),
    ]  # fmt: skip
    for argv, message in cases:
        assert cli.main(["needs", *argv]) == 2
        assert message in capsys.readouterr().err
    started = time.monotonic()
    out = flexmarket("needs", "--grid", "no-such-grid", "--day", "2016-05-26")
    assert out.returncode == 2 and "no-such-grid" in out.stderr
    assert time.monotonic() - started < 12  # was 20.7 s: the grid is never loaded
    usage = flexmarket("needs", "-h").stdout
    assert "--grid CODE|FILE --day YYYY-MM-DD" in usage  # --day shown as required


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_start_up_failures_are_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_API_")}
    dead = f"http://127.0.0.1:{_free_port()}"
    out = flexmarket("serve", "--rpc", dead, env=env)  # no relayer key
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "FLEXMARKET_API_RELAYER_KEY is required" in out.stderr
    assert "listening" not in out.stdout and "Traceback" not in out.stderr
    env["FLEXMARKET_API_RELAYER_KEY"] = "0x" + "11" * 32
    out = flexmarket("serve", "--rpc", dead, env=env)  # a node that does not answer
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and f"--rpc: {dead}: no JSON-RPC node answers" in out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(("tty", "json_", "verbosity", "shown"), [
    (True, False, 0, True), (False, False, 0, False), (True, True, 0, False),
    (True, False, -1, False), (False, False, 1, True),
])  # fmt: skip
def test_progress_on_a_terminal_only_and_never_with_json_or_quiet(tty, json_, verbosity, shown):
    stream = _Terminal() if tty else io.StringIO()
    show_progress(stream, "verify", json=json_, verbosity=verbosity)
    try:
        log = logging.getLogger("verifier.verify")
        log.info("reading the chain")
        for done in range(1, 5):
            progress(log, "sessions", done, 4)
        log.warning("a warning is always shown")
    finally:
        show_progress(io.StringIO(), "-", verbosity=-1)
    text = stream.getvalue()
    assert ("verify: reading the chain" in text) is shown
    assert ("verify: sessions: 4/4" in text) is shown
    assert "verify: a warning is always shown" in text
    if shown and tty:
        assert "\r\x1b[K" in text and "[########################]" in text  # a bar, redrawn
    if shown and not tty:
        assert "sessions: 1/4" not in text  # off a terminal: only the final count


def test_progress_lines_are_escaped():
    stream = _Terminal()
    handler = ProgressHandler(stream, "demo")
    record = logging.LogRecord("x", logging.INFO, "", 0, "bid %s", ("\x1b]0;owned\x07",), None)
    handler.emit(record)
    assert "\x1b]" not in stream.getvalue() and "\\u001b]0;owned\\u0007" in stream.getvalue()


def test_needs_progress_on_a_terminal_not_with_q_nor_on_a_pipe(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    argv = ["needs", "--grid", str(bad), "--day", "2016-05-26"]
    code, _, err = run_on_terminal(*argv)
    assert code == 2 and "needs: loading the grid" in err, err
    code, _, err = run_on_terminal("-q", *argv)
    assert code == 2 and "loading the grid" not in err and "not a pandapower JSON" in err
    out = flexmarket(*argv)
    assert out.returncode == 2 and "loading the grid" not in out.stderr


def test_verify_explains_hashes_it_cannot_reproduce():
    from verifier.verify import Report, SessionReport

    s = SessionReport(1, "Final", 3, 3, checked=True)
    s.result_hash = {"committed": "0x5d12", "own": "0xaaaa", "match": False, "comparable": False}
    s.notes.append("input_hash not reproducible: ... the scenario file ...")
    text = Report(31337, 10, "e", {}, [s], {}, 1).render()
    assert "result_hash 0x5d12 (differs here, as expected: see the input_hash note)" in text
    s.result_hash["comparable"] = True
    assert "(differs here)" in Report(31337, 10, "e", {}, [s], {}, 1).render()


def test_the_index_shows_the_market_id_as_text():
    from python_client.hashing import label
    from verifier.projections import VIEWS, _label

    assert _label("0x" + label("T1-PowerMax-2014W").hex()) == "T1-PowerMax-2014W"
    assert _label(label("T1")) == "T1"
    odd = b"\x1b[2J" + bytes(28)
    assert _label(odd) == "0x" + odd.hex()  # not printable: hex
    assert _label(b"\xff" * 32) == "0x" + "ff" * 32  # not UTF-8: hex
    assert "s.market," in VIEWS["v_session_status"]


def test_q_and_v_anywhere():
    assert cli._global_flags(["-q", "demo", "--json"]) == (["demo", "--json"], -1)
    assert cli._global_flags(["demo", "-v"]) == (["demo"], 1)
    assert cli._global_flags(["index", "--quiet", "--rpc", "u"]) == (["index", "--rpc", "u"], -1)
    assert cli._global_flags(["clear", "--", "-q"]) == (["clear", "--", "-q"], 0)
    out = flexmarket("-v", "clear", "examples/flech_powermax.json")  # stderr a pipe: -v shows
    assert out.returncode == 0 and "clear: clearing 3 bids" in out.stderr
    out = flexmarket("clear", "examples/flech_powermax.json")
    assert out.returncode == 0 and out.stderr == ""


def test_index_and_verify_show_progress_on_a_terminal_only(tmp_path, deployed):
    chain, dep = deployed.chain, deployed.file
    index = ["index", "--rpc", chain.url, "--deployment", str(dep)]
    code, stdout, err = run_on_terminal(*index, "--db", f"sqlite:///{tmp_path}/a.sqlite")
    assert code == 0, err
    assert "index: blocks indexed:" in err and "]\r\n" in err and "index: blocks " in err
    assert "indexed " in stdout  # the summary
    code, _, err = run_on_terminal("-q", *index, "--db", f"sqlite:///{tmp_path}/b.sqlite")
    assert code == 0 and err == "", err
    verify = ["verify", "--rpc", chain.url, "--deployment", str(dep)]
    code, stdout, err = run_on_terminal(*verify)
    assert code == 0, stdout + err
    assert "verify: reading the chain's events" in err and "verify: comparing" in err
    code, stdout, err = run_on_terminal(*verify, "--json")
    assert code == 0 and err == "" and json.loads(stdout)["ok"]
