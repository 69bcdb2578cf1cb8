"""Readable lines for `flexmarket clear`: coupling, traffic light, shares, conflicts."""

from __future__ import annotations

from oracle.result import Result

_LIGHT = {"green": "G", "yellow": "Y", "red": "R"}


def coordination_lines(result: Result) -> list[str]:
    coord = result.coordination or {}
    priority = ", ".join(coord.get("priority", []))
    lines = ["", f"coupling: {coord.get('coupling')} (priority {priority})"]
    light = coord.get("traffic_light", {})
    if light:
        lines.append("traffic light per slot (G free trading, Y DSO needs cleared, R suspended):")
        lines += [f"  {zone}: {''.join(_LIGHT[s] for s in states)}"
                  for zone, states in light.items()]
    if coord.get("suspended_bids"):
        lines.append(f"suspended (red zone): {', '.join(coord['suspended_bids'])}")
    shared = list(result.shares or [])
    by_bid: dict[str, list[str]] = {}
    for s in shared:
        by_bid.setdefault(str(s["bid"]), []).append(f"{s['buyer']} {int(s['payment_ueur']):,}")
    multi = {b: parts for b, parts in by_bid.items() if len(parts) > 1}
    if multi:
        lines.append("payments shared (µEUR):")
        lines += [f"  {b}: {'; '.join(parts)}" for b, parts in multi.items()]
    conflicts = result.conflicts or []
    lines.append(f"conflicts: {len(conflicts)}" if conflicts else "conflicts: none")
    for c in conflicts:
        lines.append(f"  slot {c['slot']} {c['type']}: zones {','.join(c['zones']) or '-'}; "
                     f"requests {','.join(c['requests'])}; bids {','.join(c['bids']) or '-'}; "
                     f"{_detail(c['detail'])}")
    return lines


def _detail(detail: object) -> str:
    """A conflict's detail as words: `split DSO1 20,000 W, TSO1 20,000 W; shared 20,000 W`
    (a key ending in `_w` holds watts), not a Python dict."""
    if not isinstance(detail, dict):
        return str(detail)

    def value(key: str, v: object) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {value(key, x)}" for k, x in v.items())
        if isinstance(v, int) and key.endswith("_w"):
            return f"{v:,} W"
        return str(v)

    return "; ".join(
        f"{k.removesuffix('_w').replace('_', ' ')} {value(k, v)}" for k, v in detail.items()
    )
