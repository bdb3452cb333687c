// Person boxes drawn by hand on the canvas (pointer drag), in image pixels.

const MIN_SIZE = 4; // image pixels; smaller drags are taken as clicks

/** Canvas-pixel position of a pointer event (the canvas is scaled by CSS). */
export function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  return [Math.min(canvas.width, Math.max(0, x)), Math.min(canvas.height, Math.max(0, y))];
}

function boxFrom([x0, y0], [x1, y1]) {
  return [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)].map(Math.round);
}

/**
 * Let the user drag rectangles on `canvas` while `enabled()` is true.
 * onChange(preview) is called while dragging with the box in progress, onBox(box) once per box.
 */
export function attachBoxDrawing(canvas, enabled, onChange, onBox) {
  let start = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (!enabled() || event.button !== 0) return;
    start = canvasPoint(canvas, event);
    canvas.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (start) onChange(boxFrom(start, canvasPoint(canvas, event)));
  });
  const finish = (event) => {
    if (!start) return;
    const box = boxFrom(start, canvasPoint(canvas, event));
    start = null;
    onChange(null);
    if (box[2] >= MIN_SIZE && box[3] >= MIN_SIZE) onBox(box);
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", () => {
    start = null;
    onChange(null);
  });
}

/** [x, y, w, h] of a box given as a list or as {"bbox": [...], "score": s}. */
export function boxXywh(box) {
  return Array.isArray(box) ? box : box && box.bbox;
}

/** Boxes typed in the text field (either form, kept as typed): [] when empty; throws with a
 * readable message when invalid. */
export function parseBoxes(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch {
    throw new Error("boxes must be JSON, e.g. [[10, 20, 100, 200]]");
  }
  if (!Array.isArray(value)) throw new Error("boxes must be a JSON list of [x, y, w, h]");
  value.forEach((box, i) => {
    const xywh = boxXywh(box);
    if (!Array.isArray(xywh) || xywh.length !== 4 || !xywh.every(Number.isFinite)) {
      throw new Error(`box ${i + 1} must be [x, y, w, h] with 4 numbers`);
    }
  });
  return value;
}
