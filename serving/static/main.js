// The page: wires the inputs (file, drop, paste, webcam), the options and the result views.

import { ApiError, apiKey, curlCommand, keypointsQuery, postKeypoints, requestJson, setApiKey } from "./api.js";
import { attachBoxDrawing, parseBoxes } from "./boxes.js";
import { drawResult } from "./draw.js";
import { hasDetector, renderModelCard } from "./model.js";
import { copyText, downloadJson } from "./output.js";
import { markBelow, renderTables } from "./table.js";
import { HttpFrames, StreamFrames, WebcamSession } from "./webcam.js";

const $ = (id) => document.getElementById(id);
const MAX_RETRY_S = 10; // longest wait between two looks at a loading service
const NARROW = window.matchMedia("(max-width: 899px)"); // one column: the result is below the inputs
const state = {
  meta: { visibility_threshold: 0.2 },
  model: null,
  keypoints: { names: [], skeleton: [] }, // the served model's own (GET /v1/model, stream hello)
  image: null, // {bitmap, blob, name, type}
  result: null,
  handBoxes: [],
  preview: null,
  webcam: null,
  retry: null, // what to run again once an API key is given
  sent: 0, // number of the latest photo request: older answers are dropped
};

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function setStatus(text) {
  $("status").textContent = text;
}

function threshold() {
  return Number($("threshold").value);
}

function setThreshold(value) {
  $("threshold").value = String(value);
  $("threshold-value").value = threshold().toFixed(2);
}

function requestOptions() {
  const options = { decode: $("decode").value, boxes: state.handBoxes };
  if (!$("detector-option").hidden && !$("detector").checked) options.detector = "none";
  return options;
}

/** Camera frames get no hand-drawn boxes: those belong to the photo they were drawn on. */
function webcamOptions() {
  return { ...requestOptions(), boxes: [] };
}

function redraw() {
  const source = state.image && state.image.bitmap;
  if (!source) return;
  drawResult($("canvas"), source, state.result, {
    skeleton: (state.result && state.result.skeleton) || state.keypoints.skeleton,
    threshold: threshold(),
    showBoxes: $("show-boxes").checked,
    handBoxes: state.webcam ? [] : [...state.handBoxes, ...(state.preview ? [state.preview] : [])],
  });
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function showResult(result, elapsedMs) {
  state.result = result;
  const count = result.persons.length;
  $("person-count").value = String(count);
  renderTables($("tables"), result, threshold(), result.keypoint_names || state.keypoints.names);
  $("json").textContent = JSON.stringify(result, null, 2);
  for (const id of ["copy-json", "download-json", "copy-curl"]) $(id).disabled = false;
  $("canvas").setAttribute(
    "aria-label",
    `The image (${result.image.width} x ${result.image.height}) with ${plural(count, "person")} drawn`,
  );
  if (state.model && result.model && result.model.demo && !state.model.demo) {
    renderDemoBanner({ ...state.model, demo: true });
  }
  const boxes = result.detector ? `; boxes: ${result.detector.label || result.detector.name}` : "";
  const took = elapsedMs > 0 ? ` in ${Math.round(elapsedMs)} ms` : "";
  setStatus(`${plural(count, "person")} found${took} (server ${Math.round(result.timing_ms.total)} ms${boxes}).`);
  redraw();
}

function handleError(err, retry) {
  if (err instanceof ApiError && err.status === 401) {
    setApiKey(""); // missing, wrong or revoked: ask again
    state.retry = retry;
    $("auth-reason").textContent = err.message;
    $("auth").hidden = false;
    $("auth-key").focus();
  }
  showError(err.message);
  setStatus("No result.");
}

async function runPhoto() {
  const image = state.image;
  if (!image) return;
  clearError();
  setStatus("Sending the image…");
  const options = requestOptions();
  $("curl").textContent = curlCommand(image.name, image.type, options);
  const started = performance.now();
  const number = ++state.sent;
  try {
    const result = await postKeypoints(image.blob, image.name, options);
    if (number !== state.sent) return;
    showResult(result, performance.now() - started);
    const top = $("result").getBoundingClientRect().top;
    if (NARROW.matches && (top < -1 || top > window.innerHeight * 0.6)) {
      $("result").scrollIntoView({ block: "start" }); // on a phone the answer is far below
    }
  } catch (err) {
    if (number === state.sent) handleError(err, runPhoto);
  }
}

async function openFile(file) {
  if (!file) return;
  stopWebcam();
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    bitmap = null; // the service's answer says what is wrong with it
  }
  state.image = { bitmap, blob: file, name: file.name || "pasted.png", type: file.type };
  state.result = null;
  state.handBoxes = [];
  $("boxes").value = "";
  $("rerun").disabled = false;
  redraw();
  await runPhoto();
  if (!bitmap && !$("error").textContent) showError("This browser cannot display the image.");
}

function setBoxes(boxes) {
  state.handBoxes = boxes;
  $("boxes").value = boxes.length ? JSON.stringify(boxes) : "";
  redraw();
  if (state.image) runPhoto();
}

function renderDemoBanner(model) {
  const notes = renderModelCard($("model-card"), model);
  $("demo-banner").hidden = notes.length === 0;
  $("demo-title").textContent = notes.map((n) => n.title).join(" + ");
  $("demo-text").textContent = notes.map((n) => n.text).join(" ");
  $("detector-option").hidden = !hasDetector(model);
}

/** Names and skeleton of the served model, from GET /v1/model or the stream's hello. */
function useKeypoints(source) {
  if (source && Array.isArray(source.keypoint_names) && Array.isArray(source.skeleton)) {
    state.keypoints = { names: source.keypoint_names, skeleton: source.skeleton };
  }
}

async function loadModel() {
  try {
    state.model = await requestJson("/v1/model");
    useKeypoints(state.model);
    clearError();
    if (!state.image) setStatus("Choose an image to start.");
    renderDemoBanner(state.model);
    const own = state.model.config && state.model.config.test && state.model.config.test.in_vis_thre;
    if (typeof own === "number" && !state.result) setThreshold(own); // this model's visibility cut
  } catch (err) {
    $("model-card").replaceChildren();
    if (err instanceof ApiError && err.status === 503) {
      // the service answers while its model still loads: say so and ask again
      const seconds = Math.min(MAX_RETRY_S, Math.max(1, Number(err.retryAfter) || 1));
      setStatus(`The service is still loading its model; trying again in ${seconds} s.`);
      setTimeout(loadModel, seconds * 1000);
      return;
    }
    handleError(err, loadModel);
  }
}

function stopWebcam() {
  if (state.webcam) state.webcam.stop();
  state.webcam = null;
  $("cam-start").disabled = false;
  $("cam-stop").disabled = true;
}

/** The tracking stream when the service has it, else frame-by-frame POST /keypoints. */
async function openTransport(options) {
  try {
    const stream = await StreamFrames.open(keypointsQuery({ decode: options.decode }), apiKey());
    useKeypoints(stream.hello);
    return stream;
  } catch (err) {
    $("status").textContent = `${err.message}; sending frames to POST /keypoints instead.`;
    return new HttpFrames((blob, name) => postKeypoints(blob, name, webcamOptions()));
  }
}

async function startWebcam() {
  clearError();
  stopWebcam();
  $("cam-start").disabled = true;
  try {
    await requestJson("/v1/model"); // a WebSocket cannot show a 401: check the key first
  } catch (err) {
    $("cam-start").disabled = false;
    handleError(err, startWebcam);
    return;
  }
  const transport = await openTransport(webcamOptions());
  const session = new WebcamSession({
    video: $("cam-video"),
    transport,
    maxFps: Number($("cam-rate").value),
    onResult: (frame, result) => {
      if (state.image && state.image.bitmap && state.image.bitmap !== frame) state.image.bitmap.close();
      state.image = { bitmap: frame, blob: null, name: "frame.jpg", type: "image/jpeg" };
      showResult(result, 0); // the webcam's own stats line tells the round trip
    },
    onError: (err) => handleError(err, startWebcam),
    onStats: ({ fps, latencyMs, frames }) => {
      $("cam-fps").value = fps.toFixed(1);
      $("cam-latency").value = `${Math.round(latencyMs)} ms`;
      $("cam-frames").value = String(frames);
      setStatus(`Webcam: ${fps.toFixed(1)} frames/s, ${Math.round(latencyMs)} ms per frame.`);
    },
    onStop: () => {
      $("cam-start").disabled = false;
      $("cam-stop").disabled = true;
    },
  });
  state.webcam = session;
  $("cam-transport").value = transport.name;
  $("cam-stop").disabled = false;
  $("curl").textContent = curlCommand("frame.jpg", "image/jpeg", webcamOptions());
  try {
    await session.start();
    setStatus("Webcam on.");
  } catch (err) {
    stopWebcam();
    showError(`The camera could not be opened: ${err.message}`);
  }
}

function setMode(webcam) {
  $("mode-photo").setAttribute("aria-pressed", String(!webcam));
  $("mode-webcam").setAttribute("aria-pressed", String(webcam));
  $("photo-input").hidden = webcam;
  $("webcam-input").hidden = !webcam;
  if (!webcam) stopWebcam();
}

function wireInputs() {
  const drop = $("drop");
  $("file").addEventListener("change", () => openFile($("file").files[0]));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    openFile(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...event.clipboardData.items].find((i) => i.kind === "file");
    if (item) openFile(item.getAsFile());
  });
  $("mode-photo").addEventListener("click", () => setMode(false));
  $("mode-webcam").addEventListener("click", () => setMode(true));
  $("cam-start").addEventListener("click", startWebcam);
  $("cam-stop").addEventListener("click", () => {
    stopWebcam();
    setStatus("Webcam stopped.");
  });
  $("cam-rate").addEventListener("change", () => {
    if (state.webcam) state.webcam.maxFps = Number($("cam-rate").value);
  });
}

function wireOptions() {
  for (const id of ["decode", "detector"]) $(id).addEventListener("change", runPhoto);
  $("rerun").addEventListener("click", runPhoto);
  $("threshold").addEventListener("input", () => {
    $("threshold-value").value = threshold().toFixed(2);
    if (state.result) markBelow($("tables"), state.result, threshold());
    redraw(); // no new request: the JSON already holds every keypoint's score
  });
  $("show-boxes").addEventListener("change", redraw);
  $("draw-boxes").addEventListener("change", () => {
    $("canvas").classList.toggle("drawing", $("draw-boxes").checked);
  });
  $("boxes").addEventListener("change", () => {
    try {
      clearError();
      setBoxes(parseBoxes($("boxes").value));
    } catch (err) {
      showError(`Boxes: ${err.message}`);
    }
  });
  $("clear-boxes").addEventListener("click", () => setBoxes([]));
  attachBoxDrawing(
    $("canvas"),
    () => $("draw-boxes").checked && Boolean(state.image && state.image.bitmap) && !state.webcam,
    (preview) => {
      state.preview = preview;
      redraw();
    },
    (box) => setBoxes([...state.handBoxes, box]),
  );
  $("copy-json").addEventListener("click", () =>
    copyText(JSON.stringify(state.result, null, 2), "JSON", $("copied")),
  );
  $("copy-curl").addEventListener("click", () => copyText($("curl").textContent, "curl command", $("copied")));
  $("download-json").addEventListener("click", () =>
    downloadJson(state.result, state.image ? state.image.name : "result"),
  );
  $("auth").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("auth-key").value.trim());
    $("auth-key").value = "";
    $("auth").hidden = true;
    clearError();
    const retry = state.retry;
    state.retry = null;
    if (retry) retry();
  });
}

async function init() {
  wireInputs();
  wireOptions();
  try {
    state.meta = await requestJson("/web/meta.json");
  } catch (err) {
    showError(`The page could not load its settings: ${err.message}`);
  }
  setThreshold(state.meta.visibility_threshold);
  await loadModel();
}

init();
