"""`flexmarket clear FILE --plot OUT.svg`: the clearing as a picture (issue 17), drawn with
matplotlib (Agg, no screen): the merit order (bids by price, width their quantity, the
accepted part filled, the clearing price under uniform pricing) and the needs against the
awards per slot, stacked per seller, with what is left unmet. Text stays text in the SVG
(`svg.fonttype: none`), so the numbers can be searched; the file carries no date, so the
same clearing draws the same bytes. Written to a temporary file beside OUT, then renamed:
a failure leaves nothing behind.

`flexmarket needs --grid ... --plot OUT`: the grid forecast's loading over the day and the
needs it gives (`plot_needs`)."""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oracle.result import Result
from oracle.scenario import Scenario, per_slot
from verifier.errors import InputError

if TYPE_CHECKING:
    from oracle.grid.needs import Needs

# Okabe & Ito's palette, safe for the common colour-vision deficiencies (as the dashboard)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
FORMATS = (".svg", ".png", ".pdf")


def check_plot_path(out: Path) -> None:
    """InputError naming --plot for a file the command could not write."""
    if out.suffix.lower() not in FORMATS:
        raise InputError("--plot", f"{str(out)!r}: the file name must end in one of "
                         f"{', '.join(FORMATS)}")  # fmt: skip
    if not out.parent.resolve().is_dir():
        raise InputError("--plot", f"{str(out)!r}: the folder {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise InputError("--plot", f"{str(out)!r} is a folder")


def _fmt(n: int) -> str:
    return f"{n:,}"


def slot_table(scenario: Scenario, result: Result) -> tuple[list[int], dict[str, list[int]]]:
    """(need per slot, {seller: awarded W per slot}): a bid's award counts in each slot it
    offers (every slot when it names none)."""
    n = scenario.market.slots
    need = [0] * n
    for r in scenario.requests:
        for t, w in enumerate(per_slot(r.quantity_w, n) or []):
            need[t] += w
    slots_of = {b.id: (b.slots if b.slots is not None else list(range(n))) for b in scenario.bids}
    awarded: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for a in result.awards:
        for t in slots_of[a.bid]:
            awarded[a.seller][t] += a.quantity_w
    return need, dict(sorted(awarded.items()))


def plot_clearing(scenario: Scenario, result: Result, out: Path) -> None:
    """Draw the clearing to `out` (.svg, .png or .pdf)."""
    check_plot_path(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    # from the defaults each time: a drawing made earlier in this process changes nothing here
    matplotlib.rcdefaults()
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "flexmarket", "font.size": 9})
    need, awarded = slot_table(scenario, result)
    sellers = sorted({b.seller for b in scenario.bids} | set(awarded))
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sellers)}
    fig, (merit, slots) = plt.subplots(2, 1, figsize=(10, 9), constrained_layout=True)

    # merit order
    got: dict[str, int] = defaultdict(int)
    for a in result.awards:
        got[a.bid] += a.quantity_w
    bids = sorted(scenario.bids, key=lambda b: (b.price_eur_per_mw, b.id))
    x = 0
    for b in bids:
        accepted = got.get(b.id, 0)
        merit.bar(x, b.price_eur_per_mw, width=b.quantity_w, align="edge", fill=False,
                  edgecolor=colour[b.seller], linestyle="-" if accepted else "--",
                  linewidth=1.5)  # fmt: skip
        if accepted:
            merit.bar(x, b.price_eur_per_mw, width=min(accepted, b.quantity_w), align="edge",
                      color=colour[b.seller], alpha=0.85)  # fmt: skip
        state = f"{_fmt(accepted)} W accepted" if accepted else "not accepted"
        text = f"{b.id}\n{_fmt(b.price_eur_per_mw)} EUR/MW\n{_fmt(b.quantity_w)} W, {state}"
        merit.annotate(text, (x + b.quantity_w / 2, b.price_eur_per_mw), ha="center", va="bottom",
                       fontsize=7)  # fmt: skip
        x += b.quantity_w
    if result.pricing == "uniform" and result.awards:
        price = max(a.price_eur_per_mw for a in result.awards)
        merit.axhline(price, color="black", linestyle=":", linewidth=1.2)
        merit.annotate(f"clearing price {_fmt(price)} EUR/MW", (0, price), va="bottom", fontsize=8)
    merit.set_title(f"Merit order, {scenario.market.id} ({result.pricing.replace('_', ' ')})")
    merit.set_xlabel("cumulative quantity offered (W)")
    merit.set_ylabel("price (EUR/MW)")
    top = max((b.price_eur_per_mw for b in bids), default=1)
    merit.set_ylim(0, top * 1.35)
    merit.set_xlim(0, max(x, 1))

    # needs vs awards per slot, stacked per seller
    n = scenario.market.slots
    base = [0] * n
    for s, per in awarded.items():
        slots.bar(range(n), per, bottom=base, color=colour[s], label=f"{s} awarded")
        base = [b + w for b, w in zip(base, per, strict=True)]
    slots.hlines(need, [t - 0.45 for t in range(n)], [t + 0.45 for t in range(n)],
                 color="black", linewidth=2.5, capstyle="butt", label="need")  # fmt: skip
    for t in range(n):
        unmet = max(0, need[t] - base[t])
        text = f"{_fmt(base[t])} W" + (f"\nunmet {_fmt(unmet)} W" if unmet else "")
        slots.annotate(text, (t, max(base[t], need[t])), ha="center", va="bottom", fontsize=6)
    slots.set_title(f"Needs and awards per slot (need {_fmt(max(need, default=0))} W at most; "
                    f"total cost {_fmt(result.total_cost_ueur // 1_000_000)} EUR)")  # fmt: skip
    slots.set_xlabel(f"slot ({scenario.market.slot_minutes} min)")
    slots.set_ylabel("W")
    slots.set_ylim(0, max([*need, *base, 1]) * 1.3)
    slots.legend(loc="upper right", fontsize=8)
    thousands = FuncFormatter(lambda v, _: _fmt(int(v)))
    for axis in (merit.xaxis, merit.yaxis, slots.yaxis):
        axis.set_major_formatter(thousands)

    _save(fig, out)


def _save(fig: Any, out: Path) -> None:
    """Write `fig` to a temporary file beside `out`, then rename it (nothing left on a
    failure); an SVG without its date."""
    import matplotlib.pyplot as plt

    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
    try:
        fig.savefig(tmp, format=out.suffix[1:].lower(), metadata={"Date": None}
                    if out.suffix.lower() == ".svg" else None)  # fmt: skip
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


TOP_BRANCHES = 5  # loading curves drawn: the most loaded branches (transformers always)


def plot_needs(needs: Needs, out: Path) -> None:
    """`flexmarket needs ... --plot OUT`: the forecast's loading over the day (the most
    loaded lines and every transformer, each labelled with its peak; 100 % marked) and
    each request's watts per slot."""
    check_plot_path(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    # from the defaults each time: a drawing made earlier in this process changes nothing here
    matplotlib.rcdefaults()
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "flexmarket", "font.size": 9})
    model = needs.model
    loading = needs.forecast.loading_percent  # [T, n_branch]
    n = model.n_steps
    peaks = loading.max(axis=0) if n else loading.sum(axis=0)
    order = sorted(range(len(model.branch_label)), key=lambda e: (-float(peaks[e]), e))
    shown = order[:TOP_BRANCHES] + [
        e for e in order[TOP_BRANCHES:] if model.branch_label[e].startswith("trafo")
    ]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True, constrained_layout=True)
    slots = list(range(n))
    for i, e in enumerate(shown):
        label = f"{model.branch_label[e]} (peak {float(peaks[e]):.1f} %)"
        top.plot(slots, loading[:, e], color=PALETTE[i % len(PALETTE)], linewidth=1.6,
                 label=label)  # fmt: skip
    top.axhline(100, color="black", linestyle=":", linewidth=1.2)
    top.annotate("100 %", (0, 100), va="bottom", fontsize=8)
    f = needs.figures
    top.set_title(f"Loading over the day, {model.name} from {model.step_labels[0]} "
                  f"(forecast max {f['max_loading_percent']} % on {f['element']})")  # fmt: skip
    top.set_ylabel("loading (%)")
    top.legend(loc="upper left", fontsize=8)

    for i, r in enumerate(needs.requests):
        q = list(r["quantity_w"])
        peak = max(q, default=0)
        zone = r["zone"] or "whole grid"
        bottom.step(slots, q, where="mid", color=PALETTE[i % len(PALETTE)], linewidth=1.8,
                    label=f"{r['id']} ({zone}, {r['direction']}): peak {_fmt(peak)} W "
                    f"at slot {q.index(peak)}")  # fmt: skip
    if not needs.requests:
        bottom.annotate("no congestion: no needs", (0.5, 0.5), xycoords="axes fraction",
                        ha="center")  # fmt: skip
    else:
        bottom.legend(loc="upper left", fontsize=8)
    bottom.set_title("Flexibility needed per slot")
    bottom.set_ylabel("W")
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt(int(v))))
    step = max(1, n // 12)
    bottom.set_xticks(slots[::step], [model.step_labels[t][-5:] for t in slots[::step]])
    bottom.set_xlabel("slot (time of day)")
    _save(fig, out)
