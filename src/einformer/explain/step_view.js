// The step view: how one query token's attention output comes about, from the model's own numbers.
// explain/html.py inlines this file into explorer.html. Every number shown was recorded by the
// model's forward pass (explain/steps.py); nothing here computes a value, it only lays them out.
// Letters: the query sequence A has M tokens, the key sequence B has N; per head, queries and keys
// are d_qk wide, values d_v wide; D is the model width.

const fmt = (x) => (x === null ? "-inf" : x.toFixed(3));

function node(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (k === "text") e.textContent = v;
    else if (k === "className") e.className = v;
    else e.setAttribute(k, v);
  });
  children.forEach((c) => e.appendChild(typeof c === "string" ? document.createTextNode(c) : c));
  return e;
}

// One vector as a strip of coloured cells (red positive, blue negative); hover shows each value.
function strip(name, values, opts = {}) {
  const scale = opts.scale || Math.max(1e-9, ...values.map((v) => Math.abs(v)));
  const s = node("div", { className: "strip", "data-vector": name });
  values.forEach((v, d) => {
    const a = Math.min(1, Math.abs(v) / scale), c = Math.round(255 * (1 - a));
    const cell = node("span", { className: "cell", title: `${name}[${d}] = ${fmt(v)}`, "data-value": fmt(v) });
    cell.style.background = v >= 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
    if (opts.highlight && d >= opts.highlight[0] && d < opts.highlight[1]) cell.classList.add("own-head");
    s.appendChild(cell);
  });
  return s;
}

function shape(step, text) { return node("span", { className: "shape", "data-step": step, text }); }

function stepBlock(n, title, shapeText, ...content) {
  return node("div", { className: "step", "data-step-number": String(n) },
    node("h3", {}, `${n}. ${title} `, shape(String(n), shapeText)), ...content);
}

function table(header, rows) {
  const t = node("table", { className: "steps" });
  t.appendChild(node("tr", {}, ...header.map((h) => node("th", { text: h }))));
  rows.forEach((r) => t.appendChild(node("tr", {}, ...r)));
  return t;
}

function num(step, j, value) { return node("td", { className: "num", "data-step": step, "data-j": String(j), text: value }); }

function maskCell(S, h, i, j) {
  if (S.mask_kind === null) return num("mask", j, "none");
  const m = S.mask[h][i][j];
  if (S.mask_kind === "keep") return num("mask", j, m ? "0" : "-inf");
  return num("mask", j, fmt(m));
}

function renderSteps() {
  const box = el("steps"), k = current(), S = k.steps ? k.steps[state.layer] : null;
  box.innerHTML = "";
  if (!S) {
    box.appendChild(node("p", { className: "help", text: "No step data for this attention (the page was written without it)." }));
    return;
  }
  const H = S.q.length, g = H / S.k.length, h = state.head < 0 ? 0 : state.head, kv = Math.floor(h / g);
  const i = state.query, M = k.rows.length, N = k.cols.length, D = S.x[0].length;
  const dqk = S.q[0][0].length, dv = S.v[0][0].length, w = k.layers[state.layer][h][i];
  el("step-note").textContent = (state.head < 0 ? "head 'all' selected: showing head 0. " : "") +
    `A = the ${M} query tokens (M = ${M}); B = the ${N} key tokens (N = ${N})` +
    (S.y === null ? ", here B = A (self-attention)." : ", another sequence (cross-attention).");
  // each key's readable text, its raw tokenizer piece in the tooltip
  const keyRows = (fn) => k.cols.map((t, j) => [node("td", { className: "tok", text: t, title: k.col_pieces[j] }), ...fn(j)]);

  box.appendChild(stepBlock(1, `Input vector x_i of query token ${i} "${k.rows[i]}", row ${i} of A`,
    `1 × D = 1 × ${D}`, strip("x", S.x[i])));
  // rotary positions (the Llama family): q and k as projected, then as turned by their positions
  const rotary = S.q_unrotated !== undefined, pos = (j) => (rotary ? String(S.positions[j]) : "");
  box.appendChild(stepBlock(2, `Query q_i = x_i W_Q and keys K = B W_K, head ${h}` +
    (rotary ? ", then rotated by position (RoPE)" : ""),
    `q_i: 1 × d_qk = 1 × ${dqk}; K: N × d_qk = ${N} × ${dqk}`,
    ...(rotary ? [node("div", { className: "row" }, node("span", { className: "tok", text: "q_i before rotation" }),
      strip("before-q", S.q_unrotated[h][i]))] : []),
    node("div", { className: "row" }, node("span", { className: "tok", text: rotary ? `q_i rotated by m = ${pos(i)}` : "q_i" }),
      strip("q", S.q[h][i])),
    rotary
      ? table(["key", "n", "k_j before rotation", "k_j rotated by n"], keyRows((j) => [num("position", j, pos(j)),
        node("td", {}, strip(`before-k${j}`, S.k_unrotated[kv][j])), node("td", {}, strip(`k${j}`, S.k[kv][j]))]))
      : table(["key", "k_j"], keyRows((j) => [node("td", {}, strip(`k${j}`, S.k[kv][j]))]))));
  // DeBERTa: the content-to-position and position-to-content terms, each its own column
  const terms = S.mask_kind === "disentangled" ? ["c2p", "p2c"].filter((t) => S[t] !== null) : [];
  const scaleName = terms.length ? `1/√(${1 + terms.length}·d_qk)` : "1/√d_qk";
  box.appendChild(stepBlock(3, `Scores: q_i · k_j, times ${scaleName} = ${S.scale.toFixed(4)}, plus the ` +
    (S.mask_kind === "position" ? "position term (b) + (d) and the causal mask"
      : terms.length ? `disentangled terms (${terms.join(" + ")}, scaled alike) and the padding mask` : "mask"),
    `1 × N = 1 × ${N}`,
    table(["key", "q·k_j", `× ${scaleName}`, ...terms.map((t) => `+ ${t}`),
      S.mask_kind === "position" ? "+ position" : terms.length ? `${terms.join(" + ")} (padding -inf)` : "+ mask", "= score"],
      keyRows((j) => [num("dot", j, fmt(S.dots[h][i][j])), num("scaled", j, fmt(S.scaled[h][i][j])),
        ...terms.map((t) => num(t, j, fmt(S[t][h][i][j]))),
        maskCell(S, h, i, j), num("score", j, fmt(S.scores[h][i][j]))]))));
  box.appendChild(stepBlock(4, "Softmax over the N scores: the attention weights a_ij", `1 × N = 1 × ${N}`,
    table(["key", "a_ij", ""], keyRows((j) => {
      const bar = node("span", { className: "bar" });
      bar.style.width = `${Math.round(120 * w[j])}px`;
      return [num("weight", j, fmt(w[j])), node("td", {}, bar)];
    }))));
  box.appendChild(stepBlock(5, "Values V = B W_V, and the weighted sum z_i = Σ_j a_ij v_j",
    `V: N × d_v = ${N} × ${dv}; z_i: 1 × d_v = 1 × ${dv}`,
    table(["key", "a_ij", "v_j"], keyRows((j) => [num("value-weight", j, fmt(w[j])), node("td", {}, strip(`v${j}`, S.v[kv][j]))])),
    node("div", { className: "row" }, node("span", { className: "tok", text: "z_i" }), strip("z", S.heads[h][i]))));
  box.appendChild(stepBlock(6, `Concatenate the ${H} heads' z_i (head ${h} outlined), then the output projection W_O`,
    `concat: 1 × H·d_v = 1 × ${H * dv}; W_O: H·d_v × D = ${H * dv} × ${D}; output: 1 × D = 1 × ${D}`,
    node("div", { className: "row" }, node("span", { className: "tok", text: "concat" }),
      strip("concat", S.concat[i], { highlight: [h * dv, (h + 1) * dv] })),
    node("div", { className: "row" }, node("span", { className: "tok", text: "output" }), strip("output", S.output[i]))));
  document.body.dataset.stepQuery = String(i);
  document.body.dataset.stepHead = String(h);
}

function setupQuerySelector() {
  const rows = current().rows;
  state.query = Math.min(state.query, rows.length - 1);
  fillSelect(el("query"), [...rows.keys()], rows.map((t, i) => `${i}: ${t}`), current().row_pieces);
  el("query").value = String(state.query);
}
