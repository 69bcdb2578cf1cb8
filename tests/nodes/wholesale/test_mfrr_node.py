"""The mFRR intermediary against the reference mFRR platform running as its own process:
products forwarded, activations disaggregated in merit order within the zone limits, a
tampered answer rejected naming the product."""

from __future__ import annotations

import pytest

from nodes.wholesale.adapter import Activation
from nodes.wholesale.launch import start_reference_mfrr
from nodes.wholesale.mfrr import MfrrIntermediary
from nodes.wholesale.spot import IntermediaryError, ResultsRejected
from oracle.wholesale.mfrr import parse_bids

MW = 1_000_000


def book(**change):
    bids = []
    for k in range(16):
        bids.append({"id": f"L{k}", "participant": f"AG{k % 3}", "zone": f"F{k % 2 + 1}",
                     "direction": "up" if k % 4 else "down", "quarter": k % 4,
                     "quantity_w": 400_000 + 100_000 * (k % 5), "price_ct_per_mwh": 500 + 10 * k,
                     "divisible": k % 5 != 0})
    data = {"schema": "flexmarket.mfrr-bids/1", "platform": "Reference mFRR",
            "delivery_start": "2026-05-26T17:00:00+02:00", "quarters": 4,
            "zones": [{"id": "F1", "max_up_w": 2 * MW, "max_down_w": MW},
                      {"id": "F2", "max_up_w": 3 * MW, "max_down_w": 0}],
            "bids": bids}
    data.update(change)
    return parse_bids(data)


@pytest.fixture(scope="module")
def round_():
    with start_reference_mfrr(seed=1) as platform:
        node = MfrrIntermediary(book(), platform.adapter())
        decision = node.forward()
        with pytest.raises(IntermediaryError, match="already forwarded"):
            node.forward()
        platform.close_gate()
        late = MfrrIntermediary(book(), platform.adapter())
        with pytest.raises(IntermediaryError, match="the gate is closed"):
            late.forward()
        yield node, decision, node.activations()


def test_activations_are_split_to_the_local_bids_within_the_zone_limits(round_):
    node, decision, activations = round_
    assert decision.products  # some local bids made whole MW products
    assert {a.product for a in activations} == {p.id for p in decision.products}
    verdict = node.accept(activations)
    # seed 1 needs 7-39 MW in each quarter and direction: our cheap products all activate
    assert all(a.activated_w == p.quantity_w for a, p in
               zip(sorted(activations, key=lambda a: a.product),
                   sorted(decision.products, key=lambda p: p.id), strict=True))
    assert sum(s.activated_w for s in verdict.splits) == sum(p.quantity_w
                                                             for p in decision.products)
    refused = {r.order_id for r in decision.refused}
    assert all(s.bid not in refused for s in verdict.splits)
    assert not any(s.zone == "F2" and s.direction == "down" for s in verdict.splits)  # red


@pytest.mark.parametrize(("alter", "check"), [
    (lambda a: Activation(a.product, a.activated_w // 2 + 1, a.price_ct_per_mwh,
                          a.payment_ueur), 1),
    (lambda a: Activation(a.product, a.activated_w, a.price_ct_per_mwh,
                          a.payment_ueur * 2 + 1), 3),
    (lambda a: Activation(a.product, a.activated_w, 1, a.activated_w * 15 // 6000), 2),
])
def test_a_tampered_answer_is_rejected_naming_the_product(round_, alter, check):
    node, _, activations = round_
    first, *rest = sorted(activations, key=lambda a: a.product)
    with pytest.raises(ResultsRejected) as exc:
        node.accept([alter(first), *rest])
    assert (check, f"products[{first.product}]") in [(v.check, v.where)
                                                     for v in exc.value.violations]


def test_mfrr_command_runs_a_round_and_exits_2_naming_a_bad_field(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    data = json.loads(book().model_dump_json(by_alias=True))
    path = tmp_path / "bids.json"
    path.write_text(json.dumps(data))
    cmd = [sys.executable, "-m", "flexmarket.cli", "wholesale", "mfrr", str(path), "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=180)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["ok"] and doc["products"] and sum(s["activated_w"] for s in doc["splits"]) > 0
    data["bids"][3]["quarter"] = -1
    path.write_text(json.dumps(data))
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=180)
    assert bad.returncode == 2 and "bids[3].quarter" in bad.stderr
    assert "Traceback" not in bad.stderr
