"""Same input, same bytes: canonical JSON and keccak256 hashes."""

import json
import random
import subprocess
import sys

from oracle_helpers import FLECH, ROOT, cleared, flech

from oracle import parse_scenario
from oracle.canonical import canonical_json, keccak_hex
from oracle.synthetic import random_session


def shuffled_keys(value, rng):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled_keys(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled_keys(v, rng) for v in value]
    return value


def test_keccak_of_canonical_json_is_the_ethereum_hash():
    assert keccak_hex(b"") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert (
        canonical_json({"b": 1, "a": [2, {"d": 3, "c": "é"}]})
        == '{"a":[2,{"c":"é","d":3}],"b":1}'.encode()
    )


def test_hashes_do_not_depend_on_key_order_or_defaults_spelled_out():
    data = flech()
    first = cleared(data)
    rng = random.Random(7)
    again = cleared(shuffled_keys(data, rng))
    assert (again.input_hash, again.result_hash) == (first.input_hash, first.result_hash)
    explicit = flech()
    explicit["market"]["pricing"] = "pay_as_bid"
    explicit["bids"][0]["min_quantity_w"] = None
    explicit["unmet_penalty_eur_per_mw"] = 1_000_000_000_000
    assert cleared(explicit).input_hash == first.input_hash


def test_a_changed_input_changes_the_input_hash():
    data = flech()
    data["bids"][2]["price_eur_per_mw"] += 1
    assert cleared(data).input_hash != cleared(flech()).input_hash


def test_two_processes_give_the_same_bytes(tmp_path):
    path = tmp_path / "session.json"
    path.write_text(json.dumps(random_session(150, n_slots=24, n_zones=4, seed=11)))
    outs = [
        subprocess.run(
            [sys.executable, "-m", "flexmarket", "clear", str(p), "--json"],
            capture_output=True,
            cwd=ROOT,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
        ).stdout
        for p, seed in ((path, 1), (path, 2))
    ]
    assert outs[0] == outs[1]
    flech_out = subprocess.run(
        [sys.executable, "-m", "flexmarket", "clear", str(FLECH), "--json"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert json.loads(flech_out)["result_hash"] == cleared(flech()).result_hash


def test_result_hash_covers_the_result_without_its_hashes():
    result = cleared(parse_scenario(flech()))
    body = result.to_json_dict()
    body.pop("input_hash")
    body.pop("result_hash")
    assert result.result_hash == keccak_hex(canonical_json(body))
