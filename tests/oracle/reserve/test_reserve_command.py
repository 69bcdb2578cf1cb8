"""`flexmarket reserve clear|check|settle`: JSON, exit codes, errors naming the field."""

from __future__ import annotations

import json
import subprocess
import sys

from reserve_helpers import ACTIVATIONS, METER, RESERVE, ROOT, reserve_doc

from oracle.reserve import clear_reserve, load_reserve


def flexmarket(*args):
    return subprocess.run([sys.executable, "-m", "flexmarket", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False)


def test_clear_json_is_the_sealed_result_and_check_accepts_it(tmp_path):
    proc = flexmarket("reserve", "clear", RESERVE, "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == clear_reserve(load_reserve(RESERVE)).to_json()
    result = tmp_path / "result.json"
    result.write_text(proc.stdout)
    check = flexmarket("reserve", "check", RESERVE, result, "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["ok"] is True
    table = flexmarket("reserve", "clear", RESERVE)
    assert "O1       AGG1          20,000 W" in table.stdout and "rejected O4" in table.stdout


def test_check_exits_1_on_a_tampered_result(tmp_path):
    doc = json.loads(clear_reserve(load_reserve(RESERVE)).to_json())
    doc["awards"][0]["quantity_w"] = 25_000
    path = tmp_path / "result.json"
    path.write_text(json.dumps(doc))
    proc = flexmarket("reserve", "check", RESERVE, path)
    assert proc.returncode == 1 and "result_hash" in proc.stdout


def test_a_malformed_file_exits_2_naming_the_field_and_prints_nothing(tmp_path):
    doc = reserve_doc()
    doc["tender"]["direction"] = "sideways"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    proc = flexmarket("reserve", "clear", path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "tender.direction" in proc.stderr and "Traceback" not in proc.stderr


def test_settle_prints_the_settlement_and_refuses_bad_meter_lines(tmp_path):
    result = tmp_path / "result.json"
    result.write_text(clear_reserve(load_reserve(RESERVE)).to_json())
    proc = flexmarket("reserve", "settle", RESERVE, "--result", result, "--activations",
                      ACTIVATIONS, "--meter", METER, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "flexmarket.reserve-settlement/1"
    assert doc["awards"][0]["terminated_by"] == "A7"
    text = flexmarket("reserve", "settle", RESERVE, "--result", result, "--activations",
                      ACTIVATIONS, "--meter", METER).stdout
    assert "terminated by A7" in text
    bad = tmp_path / "meter.csv"
    lines = METER.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",4.5"
    bad.write_text("\n".join(lines) + "\n")
    proc = flexmarket("reserve", "settle", RESERVE, "--result", result, "--activations",
                      ACTIVATIONS, "--meter", bad)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "line 6: net_import_wh '4.5' is not an integer" in proc.stderr


def test_settle_refuses_a_result_that_fails_the_checker(tmp_path):
    doc = json.loads(clear_reserve(load_reserve(RESERVE)).to_json())
    doc["awards"][0]["collateral_ueur"] = 0
    result = tmp_path / "result.json"
    result.write_text(json.dumps(doc))
    proc = flexmarket("reserve", "settle", RESERVE, "--result", result, "--activations",
                      ACTIVATIONS, "--meter", METER)
    assert proc.returncode == 2 and "--result" in proc.stderr and proc.stdout == ""


def test_verify_names_a_bad_rpc_url_and_exits_2():
    proc = flexmarket("reserve", "verify", RESERVE, "--rpc", "ftp://nowhere", "--reserve",
                      "0x" + "11" * 20, "--activations", ACTIVATIONS, "--meter", METER)
    assert proc.returncode == 2 and "--rpc" in proc.stderr and proc.stdout == ""
