// One table per person: score, box and the named keypoints with their scores.

import { personColor } from "./draw.js";

function cell(row, tag, text, scope) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (scope) element.scope = scope;
  row.appendChild(element);
  return element;
}

function fmt(value, digits = 1) {
  return Number(value).toFixed(digits);
}

function personTable(person, index, names, threshold) {
  const table = document.createElement("table");
  table.className = "person-table";
  const color = personColor(person.track_id ?? index);
  const caption = document.createElement("caption");
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.backgroundColor = color;
  swatch.setAttribute("aria-hidden", "true");
  const id = person.track_id !== undefined && person.track_id !== null ? `track ${person.track_id}` : `${index + 1}`;
  const [x, y, w, h] = person.bbox;
  caption.append(
    swatch,
    ` Person ${id}: score ${fmt(person.score, 3)}, box [${fmt(x)}, ${fmt(y)}, ${fmt(w)}, ${fmt(h)}]`,
  );
  table.appendChild(caption);
  const head = table.createTHead().insertRow();
  for (const title of ["keypoint", "x", "y", "score"]) cell(head, "th", title, "col");
  const body = table.createTBody();
  person.keypoints.forEach(([kx, ky, score], k) => {
    const row = body.insertRow();
    if (score < threshold) row.className = "below";
    cell(row, "th", names[k] || `keypoint ${k}`, "row");
    cell(row, "td", fmt(kx));
    cell(row, "td", fmt(ky));
    cell(row, "td", fmt(score, 3));
  });
  return table;
}

/** Replace the contents of `container` with one table per person of `result` (`names`: the
 * keypoint names, in the order of each person's keypoints). */
export function renderTables(container, result, threshold, names) {
  const wrappers = result.persons.map((person, i) => {
    const wrapper = document.createElement("div");
    wrapper.className = "table-scroll";
    wrapper.appendChild(personTable(person, i, names, threshold));
    return wrapper;
  });
  container.replaceChildren(...wrappers);
}

/** Mark the rows under the threshold without rebuilding the tables. */
export function markBelow(container, result, threshold) {
  container.querySelectorAll("table.person-table").forEach((table, i) => {
    const person = result.persons[i];
    if (!person) return;
    table.tBodies[0].querySelectorAll("tr").forEach((row, k) => {
      row.classList.toggle("below", person.keypoints[k][2] < threshold);
    });
  });
}
