// synctools bookmark tree: folders expand on click (their children are drawn only
// then), problems carry a mark and their reasons on hover, a click on an item sets
// `selected` so the kernel opens the record.

function render({ model, el }) {
  el.classList.add("synctools-tree");
  const list = document.createElement("div");
  list.className = "st-tree-scroll";
  list.setAttribute("role", "tree");
  el.append(list);

  function node(id, depth) {
    const nodes = model.get("nodes");
    const item = nodes[id] || { t: `missing record ${id}`, k: "missing", c: [], p: ["listed by its folder but not on the server"] };
    const wrap = document.createElement("div");
    wrap.className = "st-tree-item";
    wrap.setAttribute("role", "treeitem");
    const row = document.createElement("div");
    row.className = "st-tree-row";
    row.dataset.id = id;
    row.style.paddingLeft = `${depth * 16 + 4}px`;
    const folder = (item.c || []).length > 0;
    const twisty = document.createElement("span");
    twisty.className = "st-tree-twisty";
    twisty.textContent = folder ? "▸" : " ";
    const label = document.createElement("span");
    label.className = "st-tree-label";
    // plain glyphs every UI font has (emoji fonts are often missing on Linux)
    const icon = { folder: "", bookmark: "·", query: "?", livemark: "~", separator: "—", missing: "∅", failed: "!" }[item.k] ?? "·";
    label.textContent = `${icon} ${item.t || "(no title)"}`.trim();
    if (folder || item.k === "folder") label.classList.add("st-tree-folder");
    row.append(twisty, label);
    if (folder) {
      const count = document.createElement("span");
      count.className = "st-tree-count";
      count.textContent = ` ${item.c.length}`;
      row.append(count);
    }
    if (folder && item.d) {
      const inside = document.createElement("span");
      inside.className = "st-tree-problem st-tree-inside";
      inside.textContent = `${item.d} inside`;
      inside.title = `${item.d} item(s) with a problem in this folder`;
      row.append(inside);
    }
    if (item.p && item.p.length) {
      row.dataset.problem = "yes";
      const mark = document.createElement("span");
      mark.className = "st-tree-problem";
      mark.textContent = item.p.length > 1 ? `${item.p.length} problems` : "problem";
      mark.title = item.p.join("\n");
      row.append(mark);
      row.title = item.p.join("\n");
    }
    if (id === model.get("selected")) row.classList.add("st-selected");
    const kids = document.createElement("div");
    kids.className = "st-tree-children";
    kids.setAttribute("role", "group");
    let open = false;
    const toggle = () => {
      open = !open;
      wrap.setAttribute("aria-expanded", String(open));
      twisty.textContent = open ? "▾" : "▸";
      if (open && !kids.childElementCount) for (const c of item.c) kids.append(node(c, depth + 1));
      kids.style.display = open ? "" : "none";
    };
    if (folder) {
      wrap.setAttribute("aria-expanded", "false");
      twisty.addEventListener("click", (e) => { e.stopPropagation(); toggle(); });
      if ((model.get("expanded") || []).includes(id)) toggle();
    }
    row.addEventListener("click", () => {
      if (folder && !open) toggle();
      model.set("selected", id);
      model.save_changes();
    });
    wrap.append(row, kids);
    return wrap;
  }

  function draw() {
    list.style.maxHeight = `${model.get("height")}px`;
    list.replaceChildren(...model.get("roots").map((r) => node(r, 0)));
  }
  function mark() {
    const selected = model.get("selected");
    for (const row of list.querySelectorAll(".st-tree-row")) row.classList.toggle("st-selected", row.dataset.id === selected);
  }
  model.on("change:nodes", draw);
  model.on("change:roots", draw);
  model.on("change:selected", mark);
  draw();
}

export default { render };
