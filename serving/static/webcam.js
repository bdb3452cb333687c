// Webcam mode: frames from getUserMedia, sent at a bounded rate, one at a time, results drawn live.

const JPEG_QUALITY = 0.8;
const FPS_WINDOW_MS = 2000; // frames/s is counted over the results of the last 2 seconds

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
 * One webcam session: capture -> encode -> transport.send -> onResult, paced by maxFps and never
 * more than one frame in flight, so a slow service slows the page down instead of queueing.
 */
export class WebcamSession {
  constructor({ video, transport, maxFps, onResult, onError, onStats }) {
    this.video = video;
    this.transport = transport;
    this.maxFps = maxFps;
    this.onResult = onResult;
    this.onError = onError;
    this.onStats = onStats;
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
      while (this.doneTimes.length && this.doneTimes[0] < done - FPS_WINDOW_MS) this.doneTimes.shift();
      this.onResult(frame, result);
      this.onStats({ fps: this.fps(), latencyMs: done - sent, frames: this.frames });
    } catch (err) {
      if (!this.running) return;
      this.onError(err);
      if (err.status === 401 || err.status === 413 || err.status === 415) {
        this.stop();
        return;
      }
    }
    this.schedule(1000 / this.maxFps - (performance.now() - started));
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
  }
}
