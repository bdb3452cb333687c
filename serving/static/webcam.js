// Webcam mode: frames from getUserMedia, sent at a bounded rate, one at a time, results drawn live.

const JPEG_QUALITY = 0.8;
const FPS_WINDOW = 10; // frames/s is counted over the last 10 results (any rate, even < 1/s)

/** Sends each frame as POST /keypoints (the stateless fallback: no track ids). */
export class HttpFrames {
  constructor(post) {
    this.name = "HTTP POST /keypoints";
    this.post = post;
  }

  send(blob) {
    return this.post(blob, "frame.jpg");
  }

  close() {}
}

/**
 * Frames over the /keypoints/stream WebSocket (docs/video.md): one tracker per connection, so
 * persons keep their track_id (and colour) from frame to frame. Browsers cannot send headers on
 * a WebSocket: an API key travels as a second subprotocol, offered only when there is a key.
 */
export class StreamFrames {
  constructor(ws, hello) {
    this.name = "WebSocket /keypoints/stream (tracking)";
    this.ws = ws;
    this.hello = hello;
    this.waiting = null; // {resolve, reject} of the frame in flight
    this.closed = null; // {code, reason} once closed
    ws.addEventListener("message", (event) => this.onMessage(event));
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.settle(null, new StreamError("closed", `the stream closed (code ${event.code}${event.reason ? ", " + event.reason : ""})`));
    });
  }

  /** Connect and wait for the server's hello; rejects when the handshake fails. */
  static open(query, key) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/keypoints/stream${query}`;
    const ws = key ? new WebSocket(url, ["simplepose.v1", "simplepose.key." + key]) : new WebSocket(url);
    ws.binaryType = "arraybuffer";
    return new Promise((resolve, reject) => {
      const fail = (text) => {
        ws.close();
        reject(new StreamError("unavailable", text));
      };
      ws.addEventListener("message", function first(event) {
        ws.removeEventListener("message", first);
        let hello = null;
        try {
          hello = JSON.parse(event.data);
        } catch {
          hello = null;
        }
        if (hello && hello.type === "hello") resolve(new StreamFrames(ws, hello));
        else fail(hello && hello.message ? hello.message : "the stream did not say hello");
      });
      ws.addEventListener("close", (event) => reject(new StreamError("unavailable", `the stream refused the connection (code ${event.code})`)));
    });
  }

  get maxFps() {
    return this.hello.limits && this.hello.limits.max_fps ? this.hello.limits.max_fps : Infinity;
  }

  onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "frame") this.settle(message, null);
    else if (message.type === "error") this.settle(null, new StreamError(message.code, message.message));
  }

  settle(result, error) {
    const waiting = this.waiting;
    this.waiting = null;
    if (!waiting) return;
    if (error) waiting.reject(error);
    else waiting.resolve(result);
  }

  send(blob) {
    if (this.closed) return Promise.reject(new StreamError("closed", "the stream is closed"));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.ws.send(blob);
    });
  }

  close() {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "stopped");
  }
}

/** An error message of the stream: `code` as in docs/video.md. */
export class StreamError extends Error {
  constructor(code, message) {
    super(`Stream: ${message}`);
    this.code = code;
    this.skipped = code === "rate_limited" || code === "queue_full"; // the frame only was lost
  }
}

/**
 * One webcam session: capture -> encode -> transport.send -> onResult, paced by maxFps and never
 * more than one frame in flight, so a slow service slows the page down instead of queueing.
 */
export class WebcamSession {
  constructor({ video, transport, maxFps, onResult, onError, onStats, onStop }) {
    this.video = video;
    this.transport = transport;
    this.maxFps = maxFps;
    this.onResult = onResult;
    this.onError = onError;
    this.onStats = onStats;
    this.onStop = onStop || (() => {});
    this.stream = null;
    this.running = false;
    this.timer = null;
    this.doneTimes = [];
    this.frames = 0;
    this.capture = document.createElement("canvas");
  }

  async start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("this browser offers no camera here (it needs https or localhost)");
    }
    this.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    this.video.srcObject = this.stream;
    await this.video.play();
    this.running = true;
    this.schedule(0);
  }

  schedule(delay) {
    if (this.running) this.timer = setTimeout(() => this.tick(), Math.max(0, delay));
  }

  async tick() {
    if (!this.running) return;
    const started = performance.now();
    const { videoWidth: width, videoHeight: height } = this.video;
    if (!width || !height) {
      this.schedule(50);
      return;
    }
    try {
      const frame = await createImageBitmap(this.video);
      this.capture.width = width;
      this.capture.height = height;
      this.capture.getContext("2d").drawImage(frame, 0, 0);
      const blob = await new Promise((resolve) => this.capture.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
      const sent = performance.now();
      const result = await this.transport.send(blob);
      const done = performance.now();
      if (!this.running) return;
      this.frames += 1;
      this.doneTimes.push(done);
      if (this.doneTimes.length > FPS_WINDOW) this.doneTimes.shift();
      this.onResult(frame, result);
      this.onStats({ fps: this.fps(), latencyMs: done - sent, frames: this.frames });
    } catch (err) {
      if (!this.running) return;
      if (!err.skipped) this.onError(err);
      if (err.status === 401 || err.status === 413 || err.status === 415 || err.code === "closed") {
        this.stop();
        return;
      }
    }
    this.schedule(1000 / this.rate() - (performance.now() - started));
  }

  /** Frames/s to aim at: the user's choice, kept 10 % under the stream's own limit. */
  rate() {
    const limit = this.transport.maxFps ? 0.9 * this.transport.maxFps : Infinity;
    return Math.min(this.maxFps, limit);
  }

  fps() {
    const times = this.doneTimes;
    if (times.length < 2) return 0;
    return ((times.length - 1) * 1000) / Math.max(1, times[times.length - 1] - times[0]);
  }

  /** Stop sending, end the camera tracks and close the transport. */
  stop() {
    this.running = false;
    clearTimeout(this.timer);
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.video.srcObject = null;
    this.transport.close();
    this.onStop();
  }
}
