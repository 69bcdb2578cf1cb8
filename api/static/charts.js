// SVG charts drawn by hand (no library): needs vs awards per slot, stacked per seller, and
// the merit order. Every mark carries its numbers (data-* attributes and a <title>), and
// each chart has a table beside it in the page with the same numbers.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  // Okabe & Ito's palette, safe for the common colour-vision deficiencies
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"];
  const W = 720, H = 280, LEFT = 70, RIGHT = 16, TOP = 16, BOTTOM = 44;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }
  function title(node, text) {
    el("title", {}, node).textContent = text;
    return node;
  }
  const fmt = (n) => Number(n).toLocaleString("en-US");

  function frame(container, label) {
    container.replaceChildren();
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" });
    container.appendChild(svg);
    return svg;
  }
  // a round top and step for an axis reaching at least `max`: 1, 2, 2.5 or 5 times 10^k
  function nice(max) {
    const raw = Math.max(max, 1) / 4, p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((x) => x >= raw);
    return { top: Math.ceil(Math.max(max, 1) / step) * step, step };
  }
  // draws the grid and labels; returns the axis top
  function yAxis(svg, max, unit) {
    const { top, step } = nice(max);
    const plotH = H - TOP - BOTTOM;
    for (let v = 0; v <= top + step / 2; v += step) {
      const y = TOP + plotH * (1 - v / top);
      el("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: "grid" }, svg);
      el("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "tick" }, svg).textContent = fmt(Math.round(v));
    }
    el("text", { x: 12, y: TOP + plotH / 2, transform: `rotate(-90 12 ${TOP + plotH / 2})`,
      "text-anchor": "middle", class: "axis" }, svg).textContent = unit;
    return top;
  }

  // slots: number; series: [{id, address, colour, direction: "up"|"down", perSlot: [W]}];
  // need: {up: [W], down: [W]} per slot. Up above the axis, down below it (when any).
  function slotChart(container, slots, series, need) {
    const svg = frame(container, "Needs and awards per slot, up above the axis and down below");
    const stack = (dir, s) => series.filter((x) => x.direction === dir).reduce((a, x) => a + x.perSlot[s], 0);
    let up = 1, down = 0;
    for (let s = 0; s < slots; s++) {
      up = Math.max(up, stack("up", s), need.up[s]);
      down = Math.max(down, stack("down", s), need.down[s]);
    }
    const hi = nice(up * 1.05), lo = down ? nice(down * 1.05) : { top: 0, step: hi.step };
    const step = Math.max(hi.step, lo.step);
    const top = Math.ceil(hi.top / step) * step, bottom = Math.ceil(lo.top / step) * step;
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const y = (w) => TOP + (plotH * (top - w)) / (top + bottom);
    for (let v = -bottom; v <= top + step / 2; v += step) {
      el("line", { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: v === 0 ? "zero" : "grid" }, svg);
      el("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, svg).textContent =
        (v < 0 ? "↓ " : "") + fmt(Math.abs(v));
    }
    el("text", { x: 12, y: TOP + plotH / 2, transform: `rotate(-90 12 ${TOP + plotH / 2})`,
      "text-anchor": "middle", class: "axis" }, svg).textContent = bottom ? "W (down below 0)" : "W";
    const band = plotW / slots, barW = Math.max(1, band * 0.7);
    for (let s = 0; s < slots; s++) {
      const x = LEFT + band * s + (band - barW) / 2;
      const base = { up: 0, down: 0 };
      for (const x0 of series) {
        const w = x0.perSlot[s];
        if (!w) continue;
        const sign = x0.direction === "down" ? -1 : 1, from = base[x0.direction], to = from + w;
        title(el("rect", { x, y: Math.min(y(sign * from), y(sign * to)), width: barW,
          height: Math.abs(y(sign * to) - y(sign * from)), fill: x0.colour, class: `award ${x0.direction}`,
          "data-slot": s, "data-seller": x0.address || x0.id, "data-direction": x0.direction, "data-w": w }, svg),
          `slot ${s}: ${x0.id} awarded ${fmt(w)} W ${x0.direction}`);
        base[x0.direction] = to;
      }
      for (const dir of ["up", "down"]) {
        const w = need[dir][s];
        if (dir === "down" && !w) continue;
        const v = dir === "down" ? -w : w;
        title(el("line", { x1: x - 2, x2: x + barW + 2, y1: y(v), y2: y(v), class: `need ${dir}`,
          "data-slot": s, "data-direction": dir, "data-w": w }, svg), `slot ${s}: need ${fmt(w)} W ${dir}`);
      }
      if (slots <= 24 || s % Math.ceil(slots / 24) === 0)
        el("text", { x: x + barW / 2, y: H - BOTTOM + 16, "text-anchor": "middle", class: "tick" }, svg)
          .textContent = String(s);
    }
    el("text", { x: LEFT + plotW / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, svg)
      .textContent = "slot";
  }

  // bids: sorted by price, [{bid_id, seller, price, quantity, awarded, colour}]
  function meritChart(container, bids, clearingPrice) {
    const svg = frame(container, "Merit order");
    const total = Math.max(1, bids.reduce((a, b) => a + b.quantity, 0));
    const top = yAxis(svg, Math.max(1, ...bids.map((b) => b.price)) * 1.05, "EUR/MW");
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const y = (p) => TOP + plotH * (1 - p / top);
    let at = 0;
    for (const b of bids) {
      const x = LEFT + (plotW * at) / total, width = Math.max(1, (plotW * b.quantity) / total);
      const accepted = b.awarded > 0;
      if (accepted) // the accepted part, filled; the whole offer outlined over it
        el("rect", { x, y: y(b.price), width: Math.max(1, (plotW * Math.min(b.awarded, b.quantity)) / total),
          height: y(0) - y(b.price), fill: b.colour, class: "bid-fill" }, svg);
      title(el("rect", { x, y: y(b.price), width, height: y(0) - y(b.price), fill: "none",
        stroke: b.colour, "stroke-width": 2, "stroke-dasharray": accepted ? "" : "4 3",
        class: accepted ? "bid accepted" : "bid rejected",
        "data-bid": b.bid_id, "data-price": b.price, "data-w": b.quantity, "data-awarded": b.awarded }, svg),
        `${b.seller} ${b.bid_id.slice(0, 10)}: ${fmt(b.quantity)} W at ${fmt(b.price)} EUR/MW, ` +
        (accepted ? `accepted ${fmt(b.awarded)} W` : "not accepted"));
      at += b.quantity;
    }
    if (clearingPrice !== null) {
      title(el("line", { x1: LEFT, x2: W - RIGHT, y1: y(clearingPrice), y2: y(clearingPrice),
        class: "clearing", "data-price": clearingPrice }, svg), `clearing price ${fmt(clearingPrice)} EUR/MW`);
    }
    for (const f of [0, 0.5, 1])
      el("text", { x: LEFT + plotW * f, y: H - BOTTOM + 16, "text-anchor": "middle", class: "tick" }, svg)
        .textContent = fmt(Math.round(total * f));
    el("text", { x: LEFT + plotW / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, svg)
      .textContent = "cumulative quantity (W)";
  }

  window.flexCharts = { PALETTE, slotChart, meritChart, fmt };
})();
