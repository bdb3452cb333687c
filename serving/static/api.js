// Talking to the keypoint service: requests with the tab's API key, readable errors, curl.

const KEY_STORAGE = "simplepose.apiKey";

// What a person should read first for each HTTP status; the server's own message follows.
const STATUS_TITLES = {
  400: "The file is not a usable image",
  401: "An API key is needed",
  403: "This API key may not do that",
  404: "Not found",
  413: "Too large",
  415: "Unsupported file type",
  422: "The request was refused",
  429: "Too many requests",
  503: "The service is busy or still loading",
};

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    const title = STATUS_TITLES[status] || (status >= 500 ? "The server failed" : "Request failed");
    super(`${title} (HTTP ${status}): ${message}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

async function errorFrom(response) {
  let code = "http_" + response.status;
  let message = response.statusText || "no details";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON (e.g. a proxy's HTML page): keep the status text
  }
  return new ApiError(response.status, code, message, response.headers.get("Retry-After"));
}

/** fetch() with the tab's key; JSON body on success, ApiError otherwise. */
export async function requestJson(url, init = {}) {
  let response;
  try {
    response = await fetch(url, { ...init, headers: withKey(init.headers) });
  } catch (err) {
    throw new ApiError(0, "network", `could not reach the service (${err.message})`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** The query string of a keypoints request from the page's options. */
export function keypointsQuery(options) {
  const query = new URLSearchParams();
  if (options.decode) query.set("decode", options.decode);
  if (options.detector) query.set("detector", options.detector);
  const text = query.toString();
  return text ? "?" + text : "";
}

/** POST /keypoints with one image (Blob) and optional boxes; the parsed JSON. */
export function postKeypoints(blob, filename, options) {
  const form = new FormData();
  form.append("image", blob, filename);
  if (options.boxes && options.boxes.length) form.append("boxes", JSON.stringify(options.boxes));
  return requestJson("/keypoints" + keypointsQuery(options), { method: "POST", body: form });
}

function shellQuote(text) {
  return "'" + String(text).replace(/'/g, "'\\''") + "'";
}

/** The curl command that sends the same request (the key itself is never printed). */
export function curlCommand(filename, type, options) {
  const parts = ["curl -s"];
  if (apiKey()) parts.push('-H "Authorization: Bearer $SIMPLEPOSE_API_KEY"');
  parts.push("-F " + shellQuote(`image=@${filename}${type ? ";type=" + type : ""}`));
  if (options.boxes && options.boxes.length) {
    parts.push("-F " + shellQuote("boxes=" + JSON.stringify(options.boxes)));
  }
  parts.push(shellQuote(location.origin + "/keypoints" + keypointsQuery(options)));
  return parts.join(" \\\n     ");
}
