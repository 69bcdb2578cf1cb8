// The flexmarket dashboard: sign in with a browser wallet (EIP-1193 + EIP-4361), then the
// sessions, one session's needs, awards, merit order, money and trust, and the chain's
// events live. Everything it shows comes from the participant API as the signed-in
// caller may see it (docs/api.md; docs/dashboard.md): the page decides nothing about who
// sees what. Integers that can exceed 2^53 (µEUR, EUR/MW, slot masks) arrive as decimal
// strings and are read with BigInt.
"use strict";
(function () {
  const { slotChart, meritChart, PALETTE, fmt } = window.flexCharts;
  const $ = (sel) => document.querySelector(sel);
  const state = {
    token: null, address: null, roles: [], offset: 0, sessions: new Map(), current: null,
    overview: null, lastBlock: null, stream: null, timers: {},
    meritRows: 100, // merit order rows drawn before "Show all"
  };

  // --- plumbing --------------------------------------------------------------------
  function say(text, error) {
    const s = $("#status");
    s.textContent = text;
    s.classList.toggle("error", Boolean(error));
  }
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      if (res.status === 401 && state.token) signedOut("Your sign-in expired: sign in again.");
      const error = new Error((data && (data.detail || data.title)) || `${res.status} ${path}`);
      error.status = res.status;
      throw error;
    }
    return data;
  }
  const chainNow = () => Math.floor(Date.now() / 1000 + state.offset);
  const setNow = (now) => { state.offset = now - Date.now() / 1000; };
  const when = (t) => new Date(t * 1000).toISOString().replace(".000Z", "Z").replace("T", " ");
  function countdown(seconds) {
    if (seconds <= 0) return "closed";
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? `${h} h ` : "") + (h || m ? `${m} min ` : "") + `${s} s`;
  }
  // µEUR (decimal string) as EUR with cents, exactly
  function eur(ueur) {
    const cents = (BigInt(ueur) + 5000n) / 10000n;
    return `${(cents / 100n).toLocaleString("en-US")}.${String(cents % 100n).padStart(2, "0")}`;
  }
  const short = (hex) => `${hex.slice(0, 6)}…${hex.slice(-4)}`;
  const who = (address) => (address === state.address ? `you (${short(address)})` : short(address));
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function row(tbody, values, numeric) {
    const tr = document.createElement("tr");
    values.forEach((v, i) => cell(tr, v, numeric && numeric.includes(i) ? "num" : ""));
    tbody.appendChild(tr);
    return tr;
  }
  function facts(dl, pairs) {
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }
  function debounce(name, fn, ms) {
    clearTimeout(state.timers[name]);
    state.timers[name] = setTimeout(fn, ms);
  }

  // --- sign-in (EIP-1193 wallet, EIP-4361 message, as python_client.http.siwe_message) --
  async function signIn() {
    const eth = window.ethereum;
    if (!eth) return say("No browser wallet found (window.ethereum): install one, e.g. MetaMask.", true);
    $("#signin").disabled = true;
    try {
      say("Asking your wallet for an account…");
      const [account] = await eth.request({ method: "eth_requestAccounts" });
      const address = window.flexKeccak.checksumAddress(account);
      const n = await api("POST", "/auth/nonce");
      const issued = new Date();
      const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
      const message = `${n.domain} wants you to sign in with your Ethereum account:\n${address}\n\n` +
        `${n.statement}\n\nURI: ${n.uri}\nVersion: 1\nChain ID: ${n.chain_id}\nNonce: ${n.nonce}\n` +
        `Issued At: ${iso(issued)}\nExpiration Time: ${iso(new Date(issued.getTime() + 240000))}`;
      const hex = "0x" + Array.from(new TextEncoder().encode(message), (b) => b.toString(16).padStart(2, "0")).join("");
      say("Sign the sign-in message in your wallet…");
      const signature = await eth.request({ method: "personal_sign", params: [hex, address] });
      const out = await api("POST", "/auth/token", { message, signature });
      state.token = out.access_token;
      state.address = out.address;
      state.roles = out.roles;
      $("#who").textContent = `${out.address} · ${out.roles.length ? out.roles.join(", ") : "no role"}`;
      $("#signin").textContent = "Sign in again";
      for (const id of ["#account", "#sessions", "#live"]) $(id).hidden = false;
      $("#intro").hidden = true;
      say("Signed in.");
      const dep = await api("GET", "/deployment");
      state.lastBlock = dep.block_number;
      await Promise.all([loadMe(), loadSessions()]);
      openStream();
      route();
    } catch (err) {
      say(`Sign-in failed: ${err.message || err}`, true);
    } finally {
      $("#signin").disabled = false;
    }
  }
  function signedOut(text) {
    state.token = null;
    if (state.stream) state.stream.abort();
    $("#who").textContent = "Not signed in";
    say(text, true);
  }

  // --- account --------------------------------------------------------------------
  async function loadMe() {
    const me = await api("GET", "/participants/me");
    facts($("#balances"), [
      ["Address", me.address], ["Roles", me.roles.join(", ") || "none"],
      ["Escrow, free (EUR)", eur(me.free_ueur)], ["Escrow, locked (EUR)", eur(me.locked_ueur)],
      ["Token balance (EUR)", eur(me.token_ueur)],
      ["Standing", me.suspended ? `suspended (${me.failures} failures)` : `${me.failures} failures`],
    ]);
  }

  // --- sessions list ----------------------------------------------------------------
  async function loadSessions() {
    const out = await api("GET", "/dashboard/sessions?limit=50");
    setNow(out.now);
    state.sessions = new Map(out.sessions.map((s) => [s.session_id, s]));
    renderSessions();
  }
  function renderSessions() {
    const tbody = $("#session-table tbody");
    tbody.replaceChildren();
    for (const s of state.sessions.values()) {
      const tr = document.createElement("tr");
      tr.dataset.session = s.session_id;
      if (s.session_id === state.current) tr.className = "current";
      const a = document.createElement("a");
      a.href = `#/sessions/${s.session_id}`;
      a.textContent = `Session ${s.session_id}`;
      const th = document.createElement("th");
      th.scope = "row";
      th.appendChild(a);
      tr.appendChild(th);
      cell(tr, s.phase.replace("_", " "));
      cell(tr, when(s.bidding_end));
      cell(tr, "", "countdown").dataset.until = s.bidding_end;
      cell(tr, when(s.reveal_deadline));
      cell(tr, `${when(s.delivery_start)}, ${s.slot_count} × ${s.slot_minutes} min`);
      cell(tr, s.pricing.replaceAll("_", " "));
      cell(tr, String(s.need_count), "num");
      cell(tr, String(s.award_count), "num");
      cell(tr, String(s.settled_count), "num");
      cell(tr, s.result_status);
      tbody.appendChild(tr);
    }
    if (!state.sessions.size) row(tbody, ["No session yet"]);
    tick();
  }
  function tick() {
    const now = chainNow();
    $("#chain-now").textContent = state.token ? when(now) : "–";
    for (const td of document.querySelectorAll("td.countdown")) td.textContent = countdown(Number(td.dataset.until) - now);
    const c = document.querySelector("#session-facts dd.countdown");
    if (c) c.textContent = countdown(Number(c.dataset.until) - now);
  }

  // --- live events (GET /events: fetch, for the Authorization header EventSource lacks) --
  async function openStream() {
    if (state.stream) state.stream.abort();
    const ctrl = new AbortController();
    state.stream = ctrl;
    try {
      const res = await fetch(`/events?from_block=${state.lastBlock}`, {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" }, signal: ctrl.signal,
      });
      if (!res.ok) throw new Error(`event stream: ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch (err) {
      if (ctrl.signal.aborted) return;
      say(`Event stream interrupted (${err.message}); reconnecting…`, true);
    }
    if (state.stream === ctrl && state.token) setTimeout(openStream, 2000);
  }
  function onEvent(e) {
    state.lastBlock = Math.max(state.lastBlock, e.block_number + 1);
    const li = document.createElement("li");
    const sid = e.args && e.args.sessionId !== undefined ? Number(e.args.sessionId) : null;
    li.textContent = `block ${e.block_number}: ${e.name}` + (sid !== null ? ` (session ${sid})` : "");
    li.dataset.event = e.name;
    const list = $("#events");
    list.prepend(li);
    while (list.children.length > 50) list.lastChild.remove();
    if (sid !== null) {
      debounce("sessions", () => loadSessions().catch((err) => say(err.message, true)), 300);
      if (sid === state.current) debounce("session", () => reloadSession(sid), 300);
    }
    if (e.args && (e.args.seller === state.address || e.args.buyer === state.address || e.args.account === state.address))
      debounce("me", () => loadMe().catch(() => {}), 300);
  }

  // --- one session ------------------------------------------------------------------
  function route() {
    const m = location.hash.match(/^#\/sessions\/(\d+)$/);
    if (!m || !state.token) {
      $("#session").hidden = true;
      state.current = null;
      return;
    }
    state.current = Number(m[1]);
    renderSessions();
    loadSession(state.current).then(() => $("#session-h").focus()).catch((err) => say(err.message, true));
  }
  // live updates: one read of the session at a time (a large session's read takes a
  // while); events meanwhile ask for one more read once it has answered
  function reloadSession(id) {
    if (state.loading) {
      state.again = true;
      return;
    }
    state.loading = true;
    loadSession(id).catch((err) => say(err.message, true)).finally(() => {
      state.loading = false;
      if (state.again && state.current === id) {
        state.again = false;
        reloadSession(id);
      }
    });
  }
  async function loadSession(id) {
    const [o, settlements] = await Promise.all([
      api("GET", `/dashboard/sessions/${id}`), api("GET", `/sessions/${id}/settlements`),
    ]);
    if (id !== state.current) return;
    const answered = performance.now();
    setNow(o.now);
    state.overview = o;
    state.settlements = settlements;
    renderSession(o, settlements);
    $("#session").hidden = false;
    // what drawing the screen cost once the API answered (bench/bench_dashboard.py)
    state.timing = { session: id, draw_ms: performance.now() - answered };
    $("#coordination").hidden = !o.coordinated;
    if (o.coordinated) {
      const c = await api("GET", `/dashboard/sessions/${id}/coordination`);
      if (id === state.current) renderCoordination(c);
    }
  }
  function renderCoordination(c) {
    const doc = c.coordination || {};
    facts($("#coordination-facts"), [
      ["Coupling", doc.coupling || "sequential (default)"],
      ["Priority", (doc.priority || ["DSO", "TSO", "BRP"]).join(" > ")],
      ["DSO balancing", doc.balance_dso ? "yes" : "no"],
    ]);
    const lt = $("#light-table");
    lt.tHead.replaceChildren();
    row(lt.tHead, ["Zone", ...Array.from({ length: c.slot_count }, (_, t) => `slot ${t}`)]);
    const body = lt.tBodies[0];
    body.replaceChildren();
    for (const [zone, states] of Object.entries(c.traffic_light)) {
      const tr = document.createElement("tr");
      tr.dataset.zone = zone;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = zone;
      tr.appendChild(th);
      for (const light of states) cell(tr, light, `light ${light}`);
      body.appendChild(tr);
    }
    if (c.unmet !== null) {
      state.replicaUnmet = { id: state.current, rows: c.unmet };
      renderUnmet(c.unmet, true);
    } else renderUnmet([], false);
    const ct = $("#conflict-table tbody");
    ct.replaceChildren();
    for (const k of c.conflicts || [])
      row(ct, [String(k.slot), k.type, (k.zones || []).join(", "), JSON.stringify(k.detail || {})], [0])
        .dataset.conflict = k.type;
    if (!ct.children.length) row(ct, [c.conflicts === null ? "No result yet." : "No conflict."]);
  }
  const slotQuantity = (need, s) => (need.quantity_w.length === 1 ? need.quantity_w[0] : need.quantity_w[s] || 0);
  // the slots a slot mask (decimal string) offers; every slot when the mask is unknown
  function slotsOf(mask, slots) {
    if (mask === undefined) return Array.from({ length: slots }, (_, t) => t);
    const out = [];
    let m = BigInt(mask);
    for (let t = 0; m > 0n && t < slots; t++, m >>= 1n) if (m & 1n) out.push(t);
    return out;
  }

  function renderSession(o, settlements) {
    const s = o.session, slots = s.slot_count;
    $("#session-h").textContent = `Session ${s.session_id}`;
    $("#session-h").tabIndex = -1;
    const attested = o.trust.filter((e) => e.name === "ResultAttested").length;
    facts($("#session-facts"), [
      ["Phase", s.phase.replace("_", " ")], ["Operator", s.operator],
      ["Pricing", s.pricing.replaceAll("_", " ")], ["Slots", `${slots} × ${s.slot_minutes} min from ${when(s.delivery_start)}`],
      ["Gate closure", when(s.bidding_end)], ["Closes in", ""], ["Reveal deadline", when(s.reveal_deadline)],
      ["Clearing deadline", when(s.clearing_deadline)], ["Result", s.result_status],
    ]);
    const dds = $("#session-facts").querySelectorAll("dd");
    dds[5].className = "countdown";
    dds[5].dataset.until = s.bidding_end;

    // sellers, colours, slot masks
    const bids = new Map(o.bids.map((b) => [b.bid_id, b]));
    const awards = o.result.awards;
    const sellerIds = [...new Set(awards.map((a) => a.seller))].sort();
    const colour = new Map(sellerIds.map((id, i) => [id, PALETTE[i % PALETTE.length]]));
    const maskOf = (bidId) => (bids.get(bidId) || {}).slot_mask;
    // each award's watts per slot of its own need (the unmet need below)
    const perNeed = new Map();
    for (const a of awards) {
      if (!perNeed.has(a.need_index)) perNeed.set(a.need_index, new Array(slots).fill(0));
      const theirs = perNeed.get(a.need_index);
      for (const t of slotsOf(maskOf(a.bid_id), slots)) theirs[t] += a.quantity_w;
    }
    const needs = o.needs.filter((n) => !n.balancing);
    // up above the axis, down below it: an award's direction is its bid's (its need's
    // while the bid is not visible)
    const needDirection = new Map(o.needs.map((n) => [n.need_index, n.direction]));
    const directionOf = (a) => (bids.get(a.bid_id) || {}).direction || needDirection.get(a.need_index) || "up";
    const perSeries = new Map();
    for (const a of awards) {
      const key = `${a.seller}|${directionOf(a)}`;
      if (!perSeries.has(key)) perSeries.set(key, new Array(slots).fill(0));
      const arr = perSeries.get(key);
      for (const t of slotsOf(maskOf(a.bid_id), slots)) arr[t] += a.quantity_w;
    }
    const needOf = (dir) => Array.from({ length: slots }, (_, t) =>
      needs.filter((n) => n.direction === dir).reduce((a, n) => a + slotQuantity(n, t), 0));
    const need = { up: needOf("up"), down: needOf("down") };
    const both = [...perSeries.keys()].some((k) => k.endsWith("|down")) || need.down.some((w) => w > 0);
    const series = [...perSeries.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, perSlot]) => {
      const [address, direction] = key.split("|");
      return { id: who(address) + (both ? ` ${direction}` : ""), address, direction, colour: colour.get(address), perSlot };
    });
    slotChart($("#needs-chart"), slots, series, need);
    const legend = $("#legend");
    legend.replaceChildren();
    for (const address of sellerIds) {
      const span = document.createElement("span");
      span.style.setProperty("--swatch", colour.get(address));
      span.textContent = who(address);
      legend.appendChild(span);
    }
    const st = $("#slot-table");
    st.tHead.replaceChildren();
    const dirs = both ? ["up", "down"] : ["up"];
    const named = (what) => dirs.map((d) => (both ? `${what} ${d}` : what));
    row(st.tHead, ["Slot", ...named("Need"), ...series.map((x) => x.id), ...named("Awarded"), "Unmet"]);
    const body = st.tBodies[0];
    body.replaceChildren();
    for (let t = 0; t < slots; t++) {
      const awarded = dirs.map((d) => series.filter((x) => x.direction === d).reduce((a, x) => a + x.perSlot[t], 0));
      const cells = [String(t), ...dirs.map((d) => fmt(need[d][t])), ...series.map((x) => fmt(x.perSlot[t])),
        ...awarded.map(fmt), ""];
      row(body, cells, cells.map((_, i) => i)).dataset.slot = t;
    }

    // merit order: revealed bids the caller may see, by price
    const awardedOf = new Map();
    for (const a of awards) awardedOf.set(a.bid_id, (awardedOf.get(a.bid_id) || 0) + a.quantity_w);
    const visible = o.bids.filter((b) => b.price_eur_per_mw !== null)
      .map((b) => ({ bid_id: b.bid_id, seller: b.seller, direction: b.direction, price: Number(b.price_eur_per_mw),
        quantity: b.quantity_w, awarded: awardedOf.get(b.bid_id) || b.awarded_w || 0,
        colour: colour.get(b.seller) || "#777777" }))
      .sort((a, b) => a.price - b.price || (a.bid_id < b.bid_id ? -1 : 1));
    const accepted = visible.filter((b) => b.awarded > 0);
    const clearing = s.pricing === "uniform" && accepted.length ? Math.max(...accepted.map((b) => b.price)) : null;
    meritChart($("#merit-chart"), visible, clearing);
    $("#clearing-price").textContent = clearing !== null ? `Clearing price (uniform pricing): ${fmt(clearing)} EUR/MW`
      : s.pricing === "uniform" ? "No bid accepted yet." : "Pay as bid: each accepted bid is paid its own price.";
    const mt = $("#merit-table tbody");
    mt.replaceChildren();
    // a long merit order: the first state.meritRows rows, the rest on asking (the chart has all)
    const shown = state.allBids === s.session_id ? visible.length : Math.min(visible.length, state.meritRows);
    visible.slice(0, shown).forEach((b, i) => {
      const tr = row(mt, [String(i + 1), short(b.bid_id), who(b.seller), fmt(b.price), fmt(b.quantity), fmt(b.awarded),
        b.awarded > 0 ? "✓ accepted" : "no"], [0, 3, 4, 5]);
      tr.dataset.bid = b.bid_id;
    });
    if (shown < visible.length) {
      const tr = document.createElement("tr"), td = document.createElement("td"), more = document.createElement("button");
      td.colSpan = 7;
      more.type = "button";
      more.id = "merit-more";
      more.textContent = `Show all ${fmt(visible.length)} bids (${fmt(visible.length - shown)} more)`;
      more.addEventListener("click", () => {
        state.allBids = s.session_id;
        renderSession(state.overview, state.settlements);
      });
      td.appendChild(more);
      tr.appendChild(td);
      mt.appendChild(tr);
    }
    if (!visible.length) row(mt, ["", "No revealed bid you may see yet (others' bids are sealed until the reveal deadline)."]);

    // unmet needs: each award serves its own need (a session without coordination; with
    // it, the replica's reading replaces this: renderCoordination)
    const unmet = [];
    for (const n of needs) {
      for (let t = 0; t < slots; t++) {
        const want = slotQuantity(n, t);
        const got = perNeed.has(n.need_index) ? perNeed.get(n.need_index)[t] : 0;
        if (want > got) unmet.push({ need_index: n.need_index, slot: t, unmet_w: want - got });
      }
    }
    if (!o.coordinated) renderUnmet(unmet, awards.length > 0);
    else if (state.replicaUnmet && state.replicaUnmet.id === s.session_id) renderUnmet(state.replicaUnmet.rows, true);
    else {
      $("#unmet-table tbody").replaceChildren();
      row($("#unmet-table tbody"), ["Loading the replica's reading of the shared activations…"]);
    }

    // my bids
    const mine = $("#my-bids tbody");
    mine.replaceChildren();
    for (const b of o.bids.filter((x) => x.seller === state.address))
      row(mine, [short(b.bid_id), b.status, b.price_eur_per_mw === null ? "sealed" : fmt(Number(b.price_eur_per_mw)),
        b.quantity_w === null ? "sealed" : fmt(b.quantity_w), b.awarded_w === null ? "–" : fmt(b.awarded_w)], [2, 3, 4])
        .dataset.bid = b.bid_id;
    if (!mine.children.length) row(mine, ["You have no bid in this session."]);

    // money
    $("#settlement-status").textContent = `Result ${settlements.status}; ${settlements.settled_count} of ` +
      `${settlements.award_count} awards settled. Total payments: ` +
      `${eur(settlements.awards.reduce((a, x) => a + BigInt(x.payment_ueur), 0n))} EUR.`;
    const money = $("#money-table tbody");
    money.replaceChildren();
    for (const a of settlements.awards)
      row(money, [String(a.award_index), who(a.seller), a.shares.map((p) => who(p.buyer)).join(", "), fmt(a.quantity_w),
        eur(a.payment_ueur), a.settled ? "yes" : "no", eur(a.paid_ueur), eur(a.refund_ueur), eur(a.penalty_ueur)],
      [3, 4, 6, 7, 8]).dataset.award = a.award_index;
    if (!settlements.awards.length) row(money, ["No award yet."]);
    const buyers = $("#buyer-table tbody");
    buyers.replaceChildren();
    for (const b of settlements.buyers)
      row(buyers, [who(b.buyer), eur(b.committed_ueur), eur(b.paid_ueur), eur(b.refund_ueur), eur(b.penalty_ueur)],
        [1, 2, 3, 4]).dataset.buyer = b.buyer;
    if (!settlements.buyers.length) row(buyers, ["No buyer pays anything yet."]);

    // trust
    const zero = /^0x0+$/;
    facts($("#trust"), [
      ["Result status", o.result.status],
      ["Input hash", zero.test(o.result.input_hash) ? "–" : o.result.input_hash],
      ["Result hash", zero.test(o.result.result_hash) ? "–" : o.result.result_hash],
      ["Attestations", `${attested} of ${s.attestation_quorum}`],
      ["Disputes", String(o.trust.filter((e) => e.name === "ResultDisputed").length)],
    ]);
    const te = $("#trust-events");
    te.replaceChildren();
    for (const e of o.trust) {
      const li = document.createElement("li");
      const by = e.args.validator || e.args.admin || "";
      li.textContent = `${e.name} by ${who(by)} in block ${e.block_number}` +
        (e.args.reasonHash ? `, reason ${e.args.reasonHash}` : "");
      te.appendChild(li);
    }
    $("#audit-out").textContent = "";
    tick();
  }

  // rows: [{need_index, slot, unmet_w}]; also the slot table's Unmet column
  function renderUnmet(rows, cleared) {
    const o = state.overview, byIndex = new Map(o.needs.map((n) => [n.need_index, n]));
    const ut = $("#unmet-table tbody");
    ut.replaceChildren();
    const perSlot = new Array(o.session.slot_count).fill(0);
    for (const r of rows) {
      const n = byIndex.get(r.need_index), want = slotQuantity(n, r.slot);
      perSlot[r.slot] += r.unmet_w;
      row(ut, [String(r.need_index), who(n.buyer), n.zone || "system", n.direction, String(r.slot), fmt(want),
        fmt(want - r.unmet_w), fmt(r.unmet_w)], [5, 6, 7]).dataset.need = r.need_index;
    }
    if (!rows.length) row(ut, [cleared ? "Every need is met." : "No award yet."]);
    for (const tr of document.querySelectorAll("#slot-table tbody tr")) tr.lastChild.textContent = fmt(perSlot[Number(tr.dataset.slot)]);
  }

  async function audit() {
    if (state.current === null) return;
    const out = $("#audit-out");
    out.textContent = "The replica is rebuilding the session from the chain…";
    try {
      const r = await api("GET", `/sessions/${state.current}/audit`);
      const mine = (r.sessions || [])[0] || {};
      out.textContent = (r.ok ? "✓ The replica agrees: " : "✗ The replica disagrees: ") +
        JSON.stringify({ checked: mine.checked, violations: mine.violations }, null, 1);
      out.className = r.ok ? "ok" : "bad";
    } catch (err) {
      out.textContent = `Audit failed: ${err.message}`;
    }
  }

  $("#signin").addEventListener("click", signIn);
  $("#audit").addEventListener("click", audit);
  window.addEventListener("hashchange", route);
  setInterval(tick, 1000);
  window.flexDashboard = { state };
})();
