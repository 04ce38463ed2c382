// The report's only script: segment details on click (and the video at that moment), and
// the index's filter and sort. No network, no libraries; everything it shows is in the page
// or beside it (the videos themselves, by relative links).
(function () {
  "use strict";

  // The video's player at ``seconds``. One that has not loaded yet (preload="none" in a large
  // report) loads now and seeks once it knows the video's length.
  function seek(player, seconds) {
    if (!player || player.error || !isFinite(seconds)) return;
    if (player.readyState === 0) {
      player.addEventListener("loadedmetadata", function () { player.currentTime = seconds; }, { once: true });
      if (player.preload === "none") { player.preload = "metadata"; player.load(); }
    }
    player.currentTime = seconds;
  }

  // A player whose video this browser cannot play (a codec it lacks) gives way to a note.
  document.querySelectorAll("video.player").forEach(function (player) {
    var refuse = function () {
      player.hidden = true;
      player.nextElementSibling.hidden = false;
    };
    if (player.error) refuse(); else player.addEventListener("error", refuse);
  });

  // A click on a timeline segment or its picture shows that segment's time and top-k, and
  // seeks the video's player to the segment's start.
  function showSegment(id) {
    var panel = document.getElementById(id);
    if (!panel || !panel.classList.contains("seg-detail")) return false;
    var section = panel.closest("section.video");
    section.querySelectorAll(".seg-detail.shown, [data-seg].selected").forEach(function (element) {
      element.classList.remove("shown", "selected");
    });
    panel.classList.add("shown");
    section.querySelectorAll("[data-seg]").forEach(function (element) {
      if (element.dataset.seg === id) element.classList.add("selected");
    });
    var link = section.querySelector("[data-seg='" + id + "']");
    seek(section.querySelector("video.player"), parseFloat(link.dataset.start));
    return true;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-seg]");
    if (link && showSegment(link.dataset.seg)) {
      event.preventDefault();  // no jump: the details open just below the pictures
      history.replaceState(null, "", "#" + link.dataset.seg);
    }
  });
  // An address ending in a segment's id (report.html#v0-s1) opens with it shown, its whole
  // video in view rather than the details alone.
  // Any other fragment (report.html#%, not valid percent-encoding) is ignored, never fatal.
  var fragment = location.hash.slice(1), linked = null;
  try { fragment = decodeURIComponent(fragment); } catch (error) { fragment = ""; }
  if (fragment) linked = document.getElementById(fragment);
  if (linked && showSegment(linked.id)) linked.closest("section.video").scrollIntoView();

  // Pictures in a folder load as their rows come near the screen. Browsers' own
  // loading="lazy" fetched all 10,000 of a large index at once in headless Chromium.
  var waiting = document.querySelectorAll("img[data-src]");
  if (waiting.length) {
    var load = function (image) { image.src = image.dataset.src; image.removeAttribute("data-src"); };
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { observer.unobserve(entry.target); load(entry.target); }
        });
      }, { rootMargin: "800px 0px" });
      waiting.forEach(function (image) { observer.observe(image); });
    } else {
      waiting.forEach(load);
    }
  }

  var table = document.getElementById("index");
  if (table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var names = rows.map(function (row) { return row.cells[1].textContent.toLowerCase(); });
    var search = document.getElementById("search");
    var labelFilter = document.getElementById("label-filter");
    var statusFilter = document.getElementById("status-filter");
    var shown = document.getElementById("shown");

    var filter = function () {
      var text = search.value.toLowerCase(), label = labelFilter.value, status = statusFilter.value, count = 0;
      rows.forEach(function (row, index) {
        var visible = (!label || row.dataset.label === label) && (!status || row.dataset.status === status) &&
          (!text || names[index].indexOf(text) !== -1);
        row.hidden = !visible;
        count += visible;
      });
      shown.textContent = count + " of " + rows.length + " shown";
    };
    [search, labelFilter, statusFilter].forEach(function (control) { control.addEventListener("input", filter); });
    document.querySelectorAll("[data-filter]").forEach(function (button) {
      button.addEventListener("click", function () {
        labelFilter.value = button.dataset.filter;
        filter();
        table.scrollIntoView();
      });
    });

    // Sort by a column: numbers by their data-v value (blanks last), text by its content.
    table.tHead.addEventListener("click", function (event) {
      var header = event.target.closest("th[data-type]");
      if (!header) return;
      var column = header.cellIndex, numeric = header.dataset.type === "number";
      var direction = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      table.tHead.querySelectorAll("th").forEach(function (th) { th.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
      var keyed = rows.map(function (row, index) {
        var cell = row.cells[column];
        var key = numeric ? parseFloat(cell.dataset.v) : cell.textContent.trim().toLowerCase();
        return { key: key, index: index, row: row };
      });
      keyed.sort(function (a, b) {
        if (numeric) {
          var aBlank = isNaN(a.key), bBlank = isNaN(b.key);
          if (aBlank || bBlank) return aBlank - bBlank || a.index - b.index;
          return (a.key - b.key) * direction || a.index - b.index;
        }
        return a.key.localeCompare(b.key) * direction || a.index - b.index;
      });
      var fragment = document.createDocumentFragment();
      keyed.forEach(function (item) { fragment.appendChild(item.row); });
      body.appendChild(fragment);
      rows = keyed.map(function (item) { return item.row; });
      names = rows.map(function (row) { return row.cells[1].textContent.toLowerCase(); });
    });
    filter();
  }
  document.documentElement.dataset.ready = "true";  // for tests: the script ran to the end
})();
