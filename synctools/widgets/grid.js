// synctools DataGrid: a virtual-scrolling grid whose rows live in the kernel.
// The body scrolls inside its own box (header sticky, controls fixed); the browser
// asks for the rows under the viewport by setting `offset`, the kernel answers with
// `rows` starting at `window_start`. Sorting and search run in the kernel.

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function render({ model, el }) {
  el.classList.add("synctools-grid");
  const bar = document.createElement("div");
  bar.className = "st-grid-bar";
  const search = document.createElement("input");
  search.type = "search";
  search.className = "st-grid-search";
  search.setAttribute("aria-label", "search every column");
  const count = document.createElement("span");
  count.className = "st-grid-count";
  const chooser = document.createElement("details");
  chooser.className = "st-grid-columns";
  const chooserLabel = document.createElement("summary");
  chooserLabel.textContent = "columns";
  const chooserList = document.createElement("div");
  chooserList.className = "st-grid-column-list";
  chooser.append(chooserLabel, chooserList);
  bar.append(search, count, chooser);

  const scroller = document.createElement("div");
  scroller.className = "st-grid-scroll";
  scroller.tabIndex = 0;
  const head = document.createElement("div");
  head.className = "st-grid-head st-grid-row";
  head.setAttribute("role", "row");
  const spacer = document.createElement("div");
  spacer.className = "st-grid-spacer";
  const body = document.createElement("div");
  body.className = "st-grid-body";
  body.setAttribute("role", "rowgroup");
  spacer.append(body);
  scroller.append(head, spacer);
  el.append(bar, scroller);

  const widths = () => {
    const byName = Object.fromEntries(model.get("columns").map((c) => [c.name, c.width]));
    return model.get("visible").map((n) => `${byName[n] || 120}px`).join(" ");
  };

  function drawHead() {
    head.replaceChildren();
    head.style.gridTemplateColumns = widths();
    const sortBy = model.get("sort_by");
    const asc = model.get("ascending");
    for (const name of model.get("visible")) {
      const cell = document.createElement("div");
      cell.className = "st-grid-th";
      cell.setAttribute("role", "columnheader");
      cell.dataset.column = name;
      const sorted = name === sortBy;
      cell.setAttribute("aria-sort", sorted ? (asc ? "ascending" : "descending") : "none");
      cell.textContent = name + (sorted ? (asc ? " ▲" : " ▼") : "");
      cell.title = `sort by ${name}`;
      cell.addEventListener("click", () => {
        if (model.get("sort_by") === name) model.set("ascending", !model.get("ascending"));
        else {
          model.set("sort_by", name);
          model.set("ascending", true);
        }
        model.save_changes();
      });
      head.append(cell);
    }
  }

  function drawChooser() {
    chooserList.replaceChildren();
    const shown = new Set(model.get("visible"));
    for (const col of model.get("columns")) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = shown.has(col.name);
      box.addEventListener("change", () => {
        const keep = model.get("columns").map((c) => c.name)
          .filter((n) => (n === col.name ? box.checked : model.get("visible").includes(n)));
        model.set("visible", keep);
        model.save_changes();
      });
      label.append(box, document.createTextNode(" " + col.name));
      chooserList.append(label);
    }
    chooserLabel.textContent = `columns (${shown.size} of ${model.get("columns").length})`;
  }

  function drawBody() {
    const rh = model.get("row_height");
    const total = model.get("total");
    spacer.style.height = `${Math.max(total, 1) * rh}px`;
    body.style.top = `${model.get("window_start") * rh}px`;
    body.replaceChildren();
    const cols = widths();
    const selected = model.get("selected");
    for (const row of model.get("rows")) {
      const tr = document.createElement("div");
      tr.className = "st-grid-row st-grid-tr";
      tr.setAttribute("role", "row");
      tr.style.gridTemplateColumns = cols;
      tr.style.height = `${rh}px`;
      tr.dataset.key = row.key;
      if (row.tone) tr.dataset.tone = row.tone;
      if (row.key === selected) tr.classList.add("st-selected");
      row.cells.forEach((text, i) => {
        const td = document.createElement("div");
        td.className = "st-grid-td";
        td.setAttribute("role", "cell");
        td.textContent = text;
        if (row.titles[i]) td.title = row.titles[i];
        tr.append(td);
      });
      tr.addEventListener("click", () => {
        model.set("selected", row.key);
        model.save_changes();
      });
      body.append(tr);
    }
    if (!total) {
      const none = document.createElement("div");
      none.className = "st-grid-empty";
      none.textContent = model.get("query") ? "no row matches the search" : "no rows";
      body.append(none);
    }
    const size = model.get("size");
    count.textContent = total === size ? `${size.toLocaleString()} rows` : `${total.toLocaleString()} of ${size.toLocaleString()} rows`;
  }

  function drawSelection() {
    const selected = model.get("selected");
    for (const tr of body.children) tr.classList.toggle("st-selected", tr.dataset.key === selected);
  }

  function layout() {
    scroller.style.height = `${model.get("height")}px`;
    search.placeholder = model.get("placeholder");
    if (document.activeElement !== search) search.value = model.get("query");
  }

  // Ask for the window under the viewport when the rows held no longer cover it.
  const want = debounce(() => {
    const rh = model.get("row_height");
    const first = Math.floor(scroller.scrollTop / rh);
    const visible = Math.ceil(scroller.clientHeight / rh) + 1;
    const start = model.get("window_start");
    const end = start + model.get("rows").length;
    const total = model.get("total");
    if (first >= start && Math.min(first + visible, total) <= end) return;
    model.set("offset", Math.max(0, first - 40));
    model.save_changes();
  }, 30);
  scroller.addEventListener("scroll", want);

  const send = debounce(() => {
    model.set("query", search.value);
    model.save_changes();
  }, 150);
  search.addEventListener("input", send);

  model.on("change:rows", drawBody);
  model.on("change:window_start", drawBody);
  model.on("change:total", drawBody);
  model.on("change:epoch", () => { scroller.scrollTop = 0; });
  model.on("change:selected", drawSelection);
  model.on("change:visible", () => { drawHead(); drawChooser(); });
  model.on("change:columns", () => { drawHead(); drawChooser(); });
  model.on("change:sort_by", drawHead);
  model.on("change:ascending", drawHead);
  model.on("change:height", layout);
  model.on("change:query", layout);
  layout();
  drawHead();
  drawChooser();
  drawBody();
}

export default { render };
