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
