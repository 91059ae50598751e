/* Progressive enhancement only: every page works without this file.
   The before/after slider: a native <input type=range> (so mouse, touch and arrow keys all
   work and screen readers announce it) drives a CSS variable that clips the "before" image. */
document.querySelectorAll(".compare").forEach(function (figure) {
  var range = figure.querySelector(".compare-range");
  if (!range) return;
  function update() { figure.style.setProperty("--pos", range.value + "%"); }
  range.addEventListener("input", update);
  update();
});

/* The time-lapse: its animation (about a megabyte) loads only when a visitor opens it; a
   visitor who asks the system for reduced motion gets its still picture (four moments)
   instead, and so does anyone who switches that setting before opening it. */
document.querySelectorAll("[data-timelapse]").forEach(function (box) {
  var img = box.querySelector(".timelapse-img");
  if (!img) return;
  var reduce = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
  function load() {
    if (!box.open) return;
    var still = reduce && reduce.matches;
    box.classList.toggle("is-still", !!still);
    var want = img.getAttribute(still ? "data-still" : "data-motion");
    if (img.getAttribute("src") !== want) img.setAttribute("src", want);
  }
  box.addEventListener("toggle", load);
  if (reduce && reduce.addEventListener) reduce.addEventListener("change", load);
  load();
});

/* The lightbox: every render full screen, with zoom (click, double-click, +/-, wheel, pinch),
   pan (drag), the arrow keys and swipes to move across all the gallery's renders, Escape to
   close. Its list of renders is one shared script (body[data-lightbox], paths relative to the
   site's root, body[data-root]), loaded when a visitor first points at or presses a button
   that opens it (.zoom[data-lightbox]): no page carries the list itself. The buttons stay
   hidden without JavaScript. */
(function () {
  var body = document.body, list = body && body.getAttribute("data-lightbox");
  if (!list) return;
  var root = body.getAttribute("data-root") || "";
  var items = null, byName = {}, loading = null;
  var FORMATS = [["image/avif", "avif"]];

  /* One row a render: [name, alt, base, [AVIF widths], JPEG width, width, height, download]. */
  function expand(row) {
    var base = row[2];
    return {name: row[0], alt: row[1], href: "render/" + row[0] + ".html", download: row[7] || null,
            width: row[5], height: row[6], src: base + row[4] + ".jpg",
            fallback: [[base + row[4] + ".jpg", row[4]]],
            sources: FORMATS.map(function (f) {
              return {type: f[0], srcset: row[3].map(function (w) { return [base + w + "." + f[1], w]; })};
            })};
  }

  function load() {  // a script, not fetch(): it loads from file:// too
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        window.galleryLightbox = function (data) {
          items = data.renders.map(expand);
          items.forEach(function (it, i) { byName[it.name] = i; });
          resolve();
        };
        var s = document.createElement("script");
        s.src = root + list;
        s.onerror = function () { loading = null; reject(); };
        document.head.appendChild(s);
      });
    }
    return loading;
  }
  var box, stage, img, caption, count, pageLink, downloadLink, zoomBtn, opener = null;
  var index = 0, scale = 1, tx = 0, ty = 0, pointers = {}, gesture = null;
  var MAX = 8;

  function url(path) { return /^[a-z]+:|^\//i.test(path) ? path : root + path; }
  function srcset(list) { return list.map(function (s) { return url(s[0]) + " " + s[1] + "w"; }).join(", "); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }

  function build() {
    box = el("div", {"class": "lightbox", role: "dialog", "aria-modal": "true", "aria-label": "Full-screen view", hidden: ""});
    stage = el("div", {"class": "lb-stage"});
    var close = el("button", {type: "button", "class": "lb-btn lb-close", "aria-label": "Close (Escape)"}, "\u00d7");
    zoomBtn = el("button", {type: "button", "class": "lb-btn lb-zoom", "aria-label": "Zoom in (+)", "aria-pressed": "false"}, "+");
    var prev = el("button", {type: "button", "class": "lb-btn lb-prev", "aria-label": "Previous render (left arrow)"}, "\u2039");
    var next = el("button", {type: "button", "class": "lb-btn lb-next", "aria-label": "Next render (right arrow)"}, "\u203a");
    var bar = el("div", {"class": "lb-bar"});
    caption = el("p", {"class": "lb-caption"});
    count = el("span", {"class": "lb-count"});
    var title = el("span", {"class": "lb-title"});
    caption.appendChild(count); caption.appendChild(title);
    var links = el("p", {"class": "lb-links"});
    pageLink = el("a", {"class": "lb-page"}, "Open its page");
    downloadLink = el("a", {"class": "lb-download", download: ""}, "Download full size");
    links.appendChild(pageLink); links.appendChild(downloadLink);
    bar.appendChild(caption); bar.appendChild(links);
    [stage, close, zoomBtn, prev, next, bar].forEach(function (c) { box.appendChild(c); });
    document.body.appendChild(box);
    close.addEventListener("click", hide);
    prev.addEventListener("click", function () { go(-1); });
    next.addEventListener("click", function () { go(1); });
    zoomBtn.addEventListener("click", function () { zoomTo(scale > 1 ? 1 : fullScale()); });
    document.addEventListener("keydown", function (e) { if (!box.hidden) onKey(e); });
    window.addEventListener("resize", function () { if (!box.hidden && img) { fit(); apply(); } });
    stage.addEventListener("wheel", onWheel, {passive: false});
    stage.addEventListener("dblclick", function (e) { zoomTo(scale > 1 ? 1 : fullScale(), e.clientX, e.clientY); });
    stage.addEventListener("pointerdown", onDown);
    stage.addEventListener("pointermove", onMove);
    stage.addEventListener("pointerup", onUp);
    stage.addEventListener("pointercancel", onUp);
  }

  function show(i) {
    index = (i + items.length) % items.length;
    var it = items[index];
    stage.textContent = "";
    var pic = el("picture");
    it.sources.forEach(function (s) { pic.appendChild(el("source", {type: s.type, srcset: srcset(s.srcset)})); });
    img = el("img", {src: url(it.src), srcset: srcset(it.fallback), width: it.width, height: it.height,
                     alt: it.alt, draggable: "false"});
    pic.appendChild(img);
    stage.appendChild(pic);
    count.textContent = (index + 1) + " / " + items.length;
    caption.lastChild.textContent = it.alt;
    pageLink.href = url(it.href);
    if (it.download) { downloadLink.href = url(it.download); downloadLink.hidden = false; } else { downloadLink.hidden = true; }
    box.setAttribute("data-index", String(index));
    scale = 1; tx = 0; ty = 0;
    if (!box.hidden) fit();
    apply();
  }

  /* The whole picture, as large as the stage allows but never beyond its own pixels (the zoom
     shows those): an explicit size, so that neither the srcset's width hint nor the grid can
     enlarge or crop it. The sizes hint then asks for the pixels it is drawn with. */
  function fit() {
    var it = items[index];
    var f = Math.min(1, stage.clientWidth / it.width, stage.clientHeight / it.height);
    img.style.width = Math.floor(it.width * f) + "px";
    img.style.height = Math.floor(it.height * f) + "px";
    hint(Math.floor(it.width * f));
  }

  function hint(px) {
    [].forEach.call(stage.querySelectorAll("source, img"), function (n) { n.setAttribute("sizes", px + "px"); });
  }

  function open(i, from) {
    if (!box) build();
    opener = from || document.activeElement;
    box.hidden = false;
    show(i);
    document.documentElement.classList.add("lb-open");
    box.querySelector(".lb-close").focus();
  }

  function hide() {
    box.hidden = true;
    document.documentElement.classList.remove("lb-open");
    if (opener && opener.focus) opener.focus();
  }

  function go(step) { show(index + step); }

  /* Zoom: scale 1 fits the screen; "full" shows the render's own pixels (at least 2x). */
  function fullScale() { return img ? Math.min(MAX, Math.max(2, items[index].width / (img.offsetWidth || 1))) : 2; }

  function zoomTo(s, cx, cy) {
    if (!img) return;
    s = Math.max(1, Math.min(MAX, s));
    var r = img.getBoundingClientRect();
    if (cx === undefined) { cx = r.left + r.width / 2; cy = r.top + r.height / 2; }
    var u = (cx - r.left) / scale, v = (cy - r.top) / scale;  // the image point under the pointer
    tx -= u * (s - scale); ty -= v * (s - scale);
    scale = s;
    apply();
  }

  function apply() {
    if (!img) return;
    if (scale <= 1) { scale = 1; tx = 0; ty = 0; }
    else {
      var W = img.offsetWidth * scale, H = img.offsetHeight * scale;
      var bx = img.offsetLeft, by = img.offsetTop, SW = stage.clientWidth, SH = stage.clientHeight;
      tx = W <= SW ? SW / 2 - bx - W / 2 : Math.min(-bx, Math.max(SW - bx - W, tx));
      ty = H <= SH ? SH / 2 - by - H / 2 : Math.min(-by, Math.max(SH - by - H, ty));
    }
    img.style.transform = scale > 1 ? "translate(" + tx + "px, " + ty + "px) scale(" + scale + ")" : "";
    stage.classList.toggle("is-zoomed", scale > 1);
    zoomBtn.setAttribute("aria-pressed", String(scale > 1));
    zoomBtn.textContent = scale > 1 ? "\u2212" : "+";
    zoomBtn.setAttribute("aria-label", scale > 1 ? "Zoom out (-)" : "Zoom in (+)");
    box.setAttribute("data-scale", scale.toFixed(2));
    if (scale > 1) hint(Math.min(items[index].width, Math.ceil(img.offsetWidth * scale)));
  }

  function onKey(e) {
    if (e.key === "Escape") { e.preventDefault(); hide(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); if (scale > 1) { tx -= 60; apply(); } else go(1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); if (scale > 1) { tx += 60; apply(); } else go(-1); }
    else if (e.key === "ArrowUp" && scale > 1) { e.preventDefault(); ty += 60; apply(); }
    else if (e.key === "ArrowDown" && scale > 1) { e.preventDefault(); ty -= 60; apply(); }
    else if (e.key === "+" || e.key === "=") { e.preventDefault(); zoomTo(scale * 1.5); }
    else if (e.key === "-") { e.preventDefault(); zoomTo(scale / 1.5); }
    else if (e.key === "0") { e.preventDefault(); zoomTo(1); }
    else if (e.key === "Tab") {  // keep the focus inside the dialog
      var f = [].slice.call(box.querySelectorAll("button, a[href]")).filter(function (n) { return !n.hidden; });
      var i = f.indexOf(document.activeElement);
      if (e.shiftKey && i <= 0) { e.preventDefault(); f[f.length - 1].focus(); }
      else if (!e.shiftKey && i === f.length - 1) { e.preventDefault(); f[0].focus(); }
    }
  }

  function onWheel(e) {
    e.preventDefault();
    zoomTo(scale * Math.pow(1.0015, -e.deltaY), e.clientX, e.clientY);
  }

  /* Pointers: one drags (pans when zoomed, swipes to the next render when not), two pinch. */
  function onDown(e) {
    if (e.target.closest && e.target.closest("button, a")) return;
    pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
    try { stage.setPointerCapture(e.pointerId); } catch (err) { /* not a live pointer */ }
    var ids = Object.keys(pointers);
    if (ids.length === 2) {
      var a = pointers[ids[0]], b = pointers[ids[1]];
      gesture = {pinch: Math.hypot(a.x - b.x, a.y - b.y), scale: scale};
    } else {
      gesture = {x: e.clientX, y: e.clientY, tx: tx, ty: ty, moved: false};
    }
  }

  function onMove(e) {
    if (!pointers[e.pointerId] || !gesture) return;
    pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
    var ids = Object.keys(pointers);
    if (gesture.pinch && ids.length === 2) {
      var a = pointers[ids[0]], b = pointers[ids[1]];
      zoomTo(gesture.scale * Math.hypot(a.x - b.x, a.y - b.y) / gesture.pinch, (a.x + b.x) / 2, (a.y + b.y) / 2);
      return;
    }
    var dx = e.clientX - gesture.x, dy = e.clientY - gesture.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) gesture.moved = true;
    if (scale > 1) { tx = gesture.tx + dx; ty = gesture.ty + dy; stage.classList.add("is-dragging"); apply(); }
  }

  function onUp(e) {
    if (!pointers[e.pointerId]) return;
    delete pointers[e.pointerId];
    stage.classList.remove("is-dragging");
    if (!gesture || gesture.pinch) { gesture = null; return; }
    var dx = e.clientX - gesture.x, dy = e.clientY - gesture.y;
    var r = img && img.getBoundingClientRect();  // the stage captures the pointer: test the spot
    var onImg = r && e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!gesture.moved && e.type === "pointerup" && onImg) zoomTo(scale > 1 ? 1 : fullScale(), e.clientX, e.clientY);
    else if (scale <= 1 && Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy)) go(dx < 0 ? 1 : -1);
    else if (scale <= 1 && !gesture.moved && e.type === "pointerup") hide();  // a click beside the picture
    gesture = null;
  }

  document.querySelectorAll(".zoom[data-lightbox]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("pointerenter", load, {once: true});
    button.addEventListener("focus", load, {once: true});
    button.addEventListener("click", function () {
      button.setAttribute("aria-busy", "true");
      load().then(function () {
        button.removeAttribute("aria-busy");
        var i = byName[button.getAttribute("data-lightbox")];
        if (i !== undefined) open(i, button);
      }, function () { button.removeAttribute("aria-busy"); });
    });
  });
})();

/* The filter by title. On the matrix: a cell matches when every word typed is in its picture's
   or its style's title; rows and columns without a match are hidden, and the links to the
   matrix's other parts that hold a matching title are marked. On a list of pictures or styles:
   the items whose title holds every word. */
document.querySelectorAll("input[data-filter]").forEach(function (input) {
  var target = document.getElementById(input.getAttribute("data-filter"));
  if (!target) return;
  var status = input.closest(".filter").querySelector(".filter-status");
  var norm = function (t) { return (t || "").toLocaleLowerCase(); };
  var matrix = target.tagName === "TABLE";
  var rows = [].slice.call(target.querySelectorAll(matrix ? "tbody tr" : "[data-title]"));
  var heads = matrix ? [].slice.call(target.querySelectorAll("thead th[data-title]")) : [];
  var rowTitles = rows.map(function (r) { return norm(r.getAttribute("data-title")); });
  var colTitles = heads.map(function (h) { return norm(h.getAttribute("data-title")); });
  var others = [].slice.call(document.querySelectorAll(".blocks a[data-titles]"));

  function apply() {
    var words = norm(input.value).split(/\s+/).filter(Boolean);
    var has = function (text) { return words.every(function (w) { return text.indexOf(w) >= 0; }); };
    var shownRows = 0, shownCols = 0;
    if (!matrix) {
      rows.forEach(function (r, i) { var ok = has(rowTitles[i]); r.hidden = !ok; shownRows += ok; });
      status.textContent = words.length ? shownRows + " of " + rows.length : "";
      return;
    }
    var colOn = colTitles.map(function () { return false; });
    rows.forEach(function (r, i) {
      var any = false;
      colTitles.forEach(function (c, j) { if (has(rowTitles[i] + " " + c)) { any = true; colOn[j] = true; } });
      r.hidden = !any;
      shownRows += any;
    });
    colOn.forEach(function (on) { shownCols += on; });
    heads.forEach(function (h, j) { h.hidden = !colOn[j]; });
    rows.forEach(function (r) {
      [].slice.call(r.children).forEach(function (td, k) { if (k > 0) td.hidden = !colOn[k - 1]; });
    });
    others.forEach(function (a) {
      var hit = words.length > 0 && a.getAttribute("data-titles").split("\n").some(function (t) {
        return words.some(function (w) { return norm(t).indexOf(w) >= 0; });
      });
      a.classList.toggle("has-match", hit && a.getAttribute("aria-current") !== "page");
    });
    status.textContent = !words.length ? "" : shownRows ? shownRows + " pictures × " + shownCols + " styles here"
      : "nothing here matches" + (others.some(function (a) { return a.classList.contains("has-match"); }) ?
                                  ": see the marked parts" : "");
  }
  input.addEventListener("input", apply);
  if (input.value) apply();
});
