// The model card from GET /v1/model, and the labels a person must not miss (demo, fallback).

const DEMO_NOTE = {
  title: "DEMO MODEL",
  text:
    "This service runs the small demo model, trained for minutes on a few sample images: " +
    "its keypoints are rough. Serve a real model with --model DIR or SIMPLEPOSE_MODEL.",
};

// /v1/model and each response carry "detector": {name, label, fallback} (name "none": no
// detector, the whole image is one person; "client": the request sent its own boxes).
function detectorName(detector) {
  if (!detector) return "";
  return detector.label || detector.name || "";
}

function isFallback(detector) {
  return Boolean(detector && detector.fallback);
}

/** True when the service runs a person detector the page can switch off per request. */
export function hasDetector(model) {
  return Boolean(model.detector && model.detector.name && model.detector.name !== "none");
}

/** The warnings to show prominently for this model description. */
export function modelNotes(model) {
  const notes = [];
  if (model.demo) notes.push(DEMO_NOTE);
  if (isFallback(model.detector)) {
    notes.push({
      title: "FALLBACK DETECTOR",
      text:
        `Persons are found by ${detectorName(model.detector)}. No real person detector runs: ` +
        "expect missed and loose boxes. Draw boxes by hand, or serve a real detector.",
    });
  }
  return notes;
}

function size(pair) {
  return Array.isArray(pair) && pair.length === 2 ? `${pair[0]} x ${pair[1]} (w x h)` : "";
}

/** Fill the <dl> with the model's facts; returns modelNotes(model). */
export function renderModelCard(list, model) {
  const rows = [
    ["name", model.preset || model.name],
    ["format", model.format],
    ["input size", size(model.input_size)],
    ["heatmap size", size(model.heatmap_size)],
    ["flip test fused", model.flip_fused === undefined ? "" : model.flip_fused ? "yes" : "no"],
    ["channel order", model.channel_order],
    ["device", model.device],
    ["person boxes", hasDetector(model) ? detectorName(model.detector) : "whole image, or boxes you send"],
    ["demo model", model.demo ? "YES: rough keypoints, not for real use" : "no"],
  ];
  const items = [];
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    if (term === "demo model" && model.demo) dd.className = "warn";
    items.push(dt, dd);
  }
  list.replaceChildren(...items);
  return modelNotes(model);
}
