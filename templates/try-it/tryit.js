/* The "Try it with your photo" page: runs the fast style-transfer network in this browser with
   onnxruntime-web (WebAssembly, one thread). The photo is read, resized, stylised and offered
   for download here; nothing is uploaded. Every URL is relative to the page, so the site works
   under a sub-path. Only this page loads this file, so nothing of the runtime is fetched before
   a visitor opens it. */

const app = document.querySelector("[data-tryit]");
const base = new URL(app.dataset.base, document.baseURI);   // folder holding runtime and models
const $ = (sel) => app.querySelector(sel);
const status = $("[data-status]");
const photoInputs = app.querySelectorAll("[data-photo]");
const drop = $("[data-drop]");
const sizeSelect = $("[data-size]");
const ownInput = $("[data-own-style]");
const result = $("[data-result]");
const before = $("[data-before]");
const frame = $("[data-frame]");
const download = $("[data-download]");
const figure = $("[data-figure]");

let ort = null;               // the runtime module, once imported
let transform = null;         // Promise of the transform network's session
let predict = null;           // Promise of the prediction network's session (own style only)
const vectors = new Map();    // style id -> Promise of its Float32Array (try-it/styles/*.f32)
let ownVector = null;         // Float32Array from the visitor's own style image
let photo = null;             // ImageBitmap or HTMLImageElement of the current photo
let photoName = "photo";
let started = 0;              // performance.now() when the current photo was chosen
let busy = Promise.resolve();
let downloadUrl = null;
let ready = null;             // Promise: the transform session created

function say(text, kind) {
  status.textContent = text;
  status.dataset.kind = kind || "info";
}

/* The runtime's only build uses WebAssembly with 128-bit SIMD: validate a one-function module
   that returns a v128 (i32.const 0; i8x16.splat). */
function wasmSupported() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") return false;
  const simd = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
                               10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);
  try { return WebAssembly.validate(simd); } catch (e) { return false; }
}

async function loadRuntime() {
  if (!ort) {
    ort = await import(new URL(app.dataset.runtime, base).href);
    ort.env.wasm.numThreads = 1;          // threads need cross-origin isolation (GitHub Pages has none)
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = {
      mjs: new URL(app.dataset.glue, base).href,
      wasm: new URL(app.dataset.wasm, base).href,
    };
    ort.env.logLevel = "error";
  }
  return ort;
}

async function session(file) {
  const rt = await loadRuntime();
  return rt.InferenceSession.create(new URL(file, base).href,
                                    { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
}

function getTransform() {
  if (!transform) transform = session(app.dataset.transform);
  return transform;
}

function getPredict() {
  if (!predict) predict = session(app.dataset.predict);
  return predict;
}

/* A gallery style's vector: 100 little-endian float32, computed at build time by the same
   prediction network that a style image of the visitor's own goes through. */
function galleryVector(radio) {
  if (!vectors.has(radio.value)) {
    vectors.set(radio.value, fetch(new URL(radio.dataset.vector, base)).then(async (response) => {
      if (!response.ok) throw new Error(`${radio.dataset.vector}: HTTP ${response.status}`);
      const view = new DataView(await response.arrayBuffer());
      const vector = new Float32Array(view.byteLength / 4);
      for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
      return vector;
    }).catch((error) => { vectors.delete(radio.value); throw error; }));  // a later choice retries
  }
  return vectors.get(radio.value);
}

function chosenStyle() {
  const radio = app.querySelector("input[name=style]:checked");
  return radio ? radio.value : null;
}

/* Decode a file into something drawable; HEIC and friends fail here in most browsers. */
async function decode(file) {
  if (file.type && !file.type.startsWith("image/")) throw new Error("not an image");
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    // some browsers decode via <img> what createImageBitmap refuses
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return img;
    } finally {
      URL.revokeObjectURL(url);
    }
  }
}

function dims(img) {
  return [img.naturalWidth || img.width, img.naturalHeight || img.height];
}

/* Draw `img` scaled so its longer side is at most `max`, halving first for large reductions
   so a 12-megapixel photo is averaged, not sampled. */
function resized(img, max) {
  let [w, h] = dims(img);
  const scale = Math.min(1, max / Math.max(w, h));
  const tw = Math.max(1, Math.round(w * scale)), th = Math.max(1, Math.round(h * scale));
  let src = img;
  while (w / 2 >= tw * 2 && h / 2 >= th * 2) {
    const half = document.createElement("canvas");
    half.width = Math.round(w / 2); half.height = Math.round(h / 2);
    const c = half.getContext("2d");
    c.imageSmoothingQuality = "high";
    c.drawImage(src, 0, 0, half.width, half.height);
    src = half; w = half.width; h = half.height;
  }
  const out = document.createElement("canvas");
  out.width = tw; out.height = th;
  const c = out.getContext("2d", { willReadFrequently: true });
  c.imageSmoothingQuality = "high";
  c.drawImage(src, 0, 0, tw, th);
  return out;
}

/* RGBA pixels to the network's NHWC float input in [0, 1], padded to a multiple of 4 (the
   network halves the size twice) as pipeline/render/fast/models.py pads. */
function toInput(rgba, w, h) {
  const pw = Math.ceil(w / 4) * 4, ph = Math.ceil(h / 4) * 4;
  const data = new Float32Array(pw * ph * 3);
  // as the Python engine: mirror the edge, or repeat it where the image is too small to mirror
  const mirror = Math.min(w, h) > Math.max(pw - w, ph - h);
  const reflect = (i, n) => (i < n ? i : (mirror ? 2 * (n - 1) - i : n - 1));
  for (let y = 0; y < ph; y++) {
    const sy = reflect(y, h);
    for (let x = 0; x < pw; x++) {
      const s = (sy * w + reflect(x, w)) * 4, d = (y * pw + x) * 3;
      data[d] = rgba[s] / 255; data[d + 1] = rgba[s + 1] / 255; data[d + 2] = rgba[s + 2] / 255;
    }
  }
  return [data, pw, ph];
}

function toPixels(out, pw, w, h) {
  const image = new ImageData(w, h);
  const px = image.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * pw + x) * 3, d = (y * w + x) * 4;
      for (let k = 0; k < 3; k++) px[d + k] = Math.round(Math.min(1, Math.max(0, out[s + k])) * 255);
      px[d + 3] = 255;
    }
  }
  return image;
}

async function styleVector() {
  const radio = app.querySelector("input[name=style]:checked");
  if (!radio) throw new Error("choose a style first");
  if (radio.value === "own") {
    if (!ownVector) throw new Error("choose a style image first");
    return ownVector;
  }
  return galleryVector(radio);
}

async function run() {
  if (!photo) return;
  const radio = app.querySelector("input[name=style]:checked");
  const label = radio ? radio.dataset.title : "the style";
  say(`Painting your photo in the style of ${label}…`, "busy");
  app.setAttribute("aria-busy", "true");
  await ready;
  const vector = await styleVector();
  const sess = await getTransform();
  const small = resized(photo, Number(sizeSelect.value));
  const w = small.width, h = small.height;
  const rgba = small.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, w, h).data;
  const [input, pw, ph] = toInput(rgba, w, h);
  const feeds = {};
  feeds[sess.inputNames[0]] = new ort.Tensor("float32", input, [1, ph, pw, 3]);
  feeds[sess.inputNames[1]] = new ort.Tensor("float32", vector, [1, 1, 1, vector.length]);
  const outputs = await sess.run(feeds);
  const out = outputs[sess.outputNames[0]].data;
  for (const canvas of [result, before]) { canvas.width = w; canvas.height = h; }
  result.getContext("2d").putImageData(toPixels(out, pw, w, h), 0, 0);
  before.getContext("2d").drawImage(small, 0, 0);
  frame.style.aspectRatio = `${w} / ${h}`;
  figure.hidden = false;
  const ms = performance.now() - started;
  app.dataset.lastMs = ms.toFixed(0);
  app.dataset.done = String(Number(app.dataset.done || 0) + 1);
  app.removeAttribute("aria-busy");
  say(`Done in ${(ms / 1000).toFixed(2)} s, at ${w} × ${h} px, on this device.`, "done");
  result.toBlob((blob) => {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(blob);
    download.href = downloadUrl;
    download.download = `${photoName}-${chosenStyle()}.png`;
    download.hidden = false;
  }, "image/png");
}

function schedule() {
  busy = busy.then(run).catch(fail);
  return busy;
}

function fail(error) {
  app.removeAttribute("aria-busy");
  console.warn(error);
  const what = app.dataset.ready ? "Could not paint this photo" : "Could not load the network";
  say(`${what}: ${error.message || error}. Try again, another photo or a smaller size.`, "error");
}

async function choosePhoto(file) {
  if (!file) return;
  started = performance.now();
  photoName = (file.name || "photo").replace(/\.[^.]*$/, "").replace(/[^\w-]+/g, "-") || "photo";
  try {
    photo = await decode(file);
  } catch (e) {
    photo = null;
    say(`This browser cannot open “${file.name}”. If it is an iPhone photo (HEIC), share or ` +
        "export it as JPEG first (or set Settings › Camera › Formats › Most Compatible); if it " +
        "is very large, make it smaller first. JPEG, PNG and WebP work everywhere.", "error");
    return;
  }
  schedule();
}

async function chooseOwnStyle(file) {
  if (!file) return;
  say(`Reading your style image and loading the style network (${app.dataset.predictMb} MB)…`, "busy");
  try {
    const img = await decode(file);
    const [w, h] = dims(img);
    const side = Math.min(w, h);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 256;
    const c = canvas.getContext("2d", { willReadFrequently: true });
    c.imageSmoothingQuality = "high";
    c.drawImage(img, (w - side) / 2, (h - side) / 2, side, side, 0, 0, 256, 256);
    const rgba = c.getImageData(0, 0, 256, 256).data;
    const input = new Float32Array(256 * 256 * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4) {
      input[j++] = rgba[i] / 255; input[j++] = rgba[i + 1] / 255; input[j++] = rgba[i + 2] / 255;
    }
    const sess = await getPredict();
    const outputs = await sess.run({ [sess.inputNames[0]]: new ort.Tensor("float32", input, [1, 256, 256, 3]) });
    ownVector = Float32Array.from(outputs[sess.outputNames[0]].data);
    const own = app.querySelector("input[name=style][value=own]");
    own.closest("label").hidden = false;
    own.checked = true;
    if (photo) { started = performance.now(); schedule(); }
    else say("Style ready: now choose a photo.", "info");
  } catch (e) {
    say(`Could not use that style image: ${e.message || e}. JPEG, PNG and WebP work everywhere.`, "error");
  }
}

function init() {
  if (!wasmSupported()) {
    say("This browser cannot run the network here: it needs WebAssembly with SIMD " +
        "(any current Chrome, Edge, Firefox or Safari 16.4+). Nothing was sent anywhere.", "error");
    app.querySelectorAll("input, select").forEach((el) => { el.disabled = true; });
    return;
  }
  app.classList.add("is-ready");
  for (const input of photoInputs) {
    // emptied after each pick, so picking the same photo again is a change too
    input.addEventListener("change", () => { const f = input.files[0]; input.value = ""; choosePhoto(f); });
  }
  ownInput.addEventListener("change", () => { const f = ownInput.files[0]; ownInput.value = ""; chooseOwnStyle(f); });
  app.querySelectorAll("input[name=style]").forEach((radio) => radio.addEventListener("change", () => {
    if (photo) { started = performance.now(); schedule(); }
  }));
  sizeSelect.addEventListener("change", () => { if (photo) { started = performance.now(); schedule(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("is-over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("is-over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("is-over");
    choosePhoto(e.dataTransfer.files[0]);
  });
  const preselect = new URLSearchParams(location.search).get("style");
  const radio = preselect && app.querySelector(`input[name=style][value="${CSS.escape(preselect)}"]`);
  if (radio) radio.checked = true;
  say(`Loading the network (${app.dataset.downloadMb} MB, once)…`, "busy");
  const t = performance.now();
  const checked = app.querySelector("input[name=style]:checked");
  ready = Promise.all([getTransform(), checked ? galleryVector(checked) : null]);
  ready.then(() => {
    app.dataset.readyMs = (performance.now() - t).toFixed(0);
    app.dataset.ready = "true";
    if (!photo) say("Ready: choose, drop or take a photo.", "info");
  }).catch(fail);
}

init();
