// An element with attributes ("class", "text" or any other) and children: the DOM helper of stlib's two front ends,
// put before viewer.js and lab.js when they are sent (stlib.widgets, stlib.lab): an anywidget is one ES module.
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}
