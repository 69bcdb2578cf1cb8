"""`flexmarket clear FILE [--json]`."""

import json
import subprocess
import sys

from oracle_helpers import FLECH, ROOT

from oracle import clear, load_scenario


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "flexmarket", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )


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

from oracle_helpers import flech  # noqa: E402

from oracle.display import EscapingWriter, printable  # noqa: E402

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
    monkeypatch.setattr(cli, "build_parser", lambda: _with_run(parser(), boom))
    assert cli.main(["clear", "x"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: bid \\u001b]0;owned\\u0007 broke" in err and "\x1b" not in err


def _with_run(parser, run):
    parser.set_defaults(run=run)
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(run=run)
    return parser
