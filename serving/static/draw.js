// Drawing a /keypoints result on a canvas: one colour per person, dots sized by score.

import { boxXywh } from "./boxes.js";

// Opaque, distinct colours; person i (or track id i) gets PALETTE[i % length].
export const PALETTE = [
  "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
  "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#ffe119",
];
const OUTLINE = "rgba(0, 0, 0, 0.6)";
const HAND_BOX = "#ffffff";

export function personColor(index) {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** Line width and base dot radius for an image of this size (about 1/300 of its long side). */
export function strokeSizes(width, height) {
  const unit = Math.max(2, Math.round(Math.max(width, height) / 300));
  return { line: unit, radius: unit + 1 };
}

/** Dot radius for a keypoint score in [0, 1]: from 0.75x to 2x the base radius. */
export function dotRadius(base, score) {
  const s = Math.min(1, Math.max(0, score));
  return base * (0.75 + 1.25 * s);
}

function colorIndex(person, index) {
  return person.track_id !== undefined && person.track_id !== null ? person.track_id : index;
}

function drawBox(ctx, person, color, sizes, label) {
  const [x, y, w, h] = person.bbox;
  ctx.strokeStyle = color;
  ctx.lineWidth = Math.max(1, sizes.line / 2);
  ctx.strokeRect(x, y, w, h);
  if (!label) return;
  const font = Math.max(12, sizes.line * 6);
  ctx.font = `${font}px system-ui, sans-serif`;
  const width = ctx.measureText(label).width + 8;
  const top = y >= font + 4 ? y - font - 4 : y;
  ctx.fillStyle = color;
  ctx.fillRect(x, top, width, font + 4);
  ctx.fillStyle = "#000";
  ctx.fillText(label, x + 4, top + font);
}

function drawLimbs(ctx, keypoints, skeleton, threshold, color, sizes) {
  ctx.strokeStyle = color;
  ctx.lineWidth = sizes.line;
  ctx.lineCap = "round";
  for (const [a, b] of skeleton) {
    const pa = keypoints[a];
    const pb = keypoints[b];
    if (!pa || !pb || pa[2] < threshold || pb[2] < threshold) continue;
    ctx.beginPath();
    ctx.moveTo(pa[0], pa[1]);
    ctx.lineTo(pb[0], pb[1]);
    ctx.stroke();
  }
}

function drawDots(ctx, keypoints, threshold, color, sizes) {
  for (const [x, y, score] of keypoints) {
    if (score < threshold) continue;
    ctx.beginPath();
    ctx.arc(x, y, dotRadius(sizes.radius, score), 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = OUTLINE;
    ctx.stroke();
  }
}

/**
 * Draw `image` (ImageBitmap / video frame) with `result.persons` on `canvas`, sized to the image.
 * Layers: image, hand-drawn boxes, each person's box and limbs, then every person's dots (so
 * dots stay visible), persons in list order.
 * view: {skeleton, threshold, showBoxes, handBoxes}.
 */
export function drawResult(canvas, image, result, view) {
  const width = image.width || image.videoWidth;
  const height = image.height || image.videoHeight;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0, width, height);
  const sizes = strokeSizes(width, height);
  drawHandBoxes(ctx, view.handBoxes || [], sizes);
  const persons = result ? result.persons : [];
  persons.forEach((person, i) => {
    const color = personColor(colorIndex(person, i));
    if (view.showBoxes) {
      const id = person.track_id !== undefined && person.track_id !== null ? `id ${person.track_id}` : `#${i + 1}`;
      drawBox(ctx, person, color, sizes, `${id} ${person.score.toFixed(2)}`);
    }
    drawLimbs(ctx, person.keypoints, view.skeleton, view.threshold, color, sizes);
  });
  persons.forEach((person, i) => {
    drawDots(ctx, person.keypoints, view.threshold, personColor(colorIndex(person, i)), sizes);
  });
}

export function drawHandBoxes(ctx, boxes, sizes) {
  ctx.save();
  ctx.setLineDash([sizes.line * 3, sizes.line * 2]);
  ctx.lineWidth = sizes.line;
  ctx.strokeStyle = HAND_BOX;
  for (const [x, y, w, h] of boxes.map(boxXywh)) ctx.strokeRect(x, y, w, h);
  ctx.restore();
}
