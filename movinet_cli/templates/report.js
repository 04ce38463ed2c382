// The report's only script: segment details on click (and the video at that moment), and
// the index of the videos, drawn from its JSON block, with its filters and sort. No network,
// no libraries; everything it shows is in the page or beside it (the videos themselves and
// the pictures' folder, by relative links).
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

  var list = document.getElementById("index"), block = document.getElementById("index-data");
  if (list && block) drawIndex(list, JSON.parse(block.textContent));
  document.documentElement.dataset.ready = "true";  // for tests: the script ran to the end

  // The index of the videos: rows drawn from the page's JSON block (report.py's _index), only
  // those in view (and a few either side), so that 100,000 videos open and scroll at once.
  // Every row has the same height; the list is as tall as all of its rows, up to a height
  // beyond which a pixel scrolled moves more than a pixel of rows. Everything from the data
  // is set as text or as an attribute of a safe kind, never as markup.
  function drawIndex(list, data) {
    var field = {};
    data.fields.forEach(function (name, position) { field[name] = position; });
    var rows = data.rows, rowHeight = parseFloat(list.dataset.rowHeight), maxHeight = parseFloat(list.dataset.maxHeight);
    var withPictures = list.parentNode.classList.contains("with-pictures"), around = 6;
    var search = document.getElementById("search"), labelFilter = document.getElementById("label-filter");
    var statusFilter = document.getElementById("status-filter"), shown = document.getElementById("shown");
    var head = document.getElementById("index-head");
    var sorted = rows.map(function (row, index) { return index; }), visible = sorted, names = null;
    var drawn = new Map();

    function element(tag, className, text) {
      var made = document.createElement(tag);
      if (className) made.className = className;
      if (text) made.textContent = text;
      return made;
    }
    function label(position) { return position === null ? "" : data.labels[position]; }
    // Numbers as report.py writes them in the details, to the digit: Python rounds a tie (4.25,
    // 90.5: x * 4 or x * 2 odd) to the even digit where toFixed and Math.round round it up.
    function tenths(x) {
      var text = x.toFixed(1);
      return Number.isInteger(x * 4) && (x * 4) % 2 && +text.slice(-1) % 2 ? (x - 0.05).toFixed(1) : text;
    }
    function percent(p) { return p === null ? "" : tenths(100 * p) + "%"; }
    // As report.py's _seconds: 12.3 s, or 1:02:03 beyond a minute.
    function seconds(value) {
      if (value === null) return "";
      if (value < 60) return tenths(value) + " s";
      var whole = Math.round(value);
      if (Number.isInteger(value * 2) && (value * 2) % 2 && whole % 2) whole -= 1;
      var hours = Math.floor(whole / 3600), minutes = Math.floor(whole / 60) % 60, rest = String(whole % 60).padStart(2, "0");
      return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + rest : minutes + ":" + rest;
    }

    function drawRow(index) {
      var row = rows[index], answer = label(row[field.answer]), top = label(row[field.top]);
      var line = element("div", "row");
      line.setAttribute("role", "row");
      line.dataset.index = index;
      line.dataset.label = answer;
      line.dataset.status = row[field.status];
      if (withPictures) {
        var picture = element("span", "cell");
        if (row[field.picture] !== null) {
          var image = element("img", "thumb");
          image.alt = "";
          image.loading = "lazy";
          image.src = data.picture_base + row[field.picture];
          picture.appendChild(image);
        } else {
          picture.appendChild(element("span", "thumb none"));
        }
        line.appendChild(picture);
      }
      var path = element("span", "cell path"), link = row[field.link];
      var name = element(link === null ? "span" : "a", "clamp", row[field.path]);
      if (link !== null) name.setAttribute("href", link === 0 ? "#v" + index : data.link_base + link);
      name.title = row[field.path];
      path.appendChild(name);
      var action = element("span", "cell action");
      if (answer) {
        var swatch = element("span", "swatch");
        swatch.style.background = data.colours[row[field.answer]];
        action.appendChild(swatch);
        action.appendChild(document.createTextNode(answer));
        if (top !== answer) action.appendChild(element("span", "hint", " (top: " + top + ")"));
      }
      var status = element("span", "cell status " + row[field.status], row[field.status]);
      if (row[field.error]) {
        var message = element("span", "message", row[field.error]);
        message.title = row[field.error];
        status.appendChild(message);
      }
      [path, action, element("span", "cell number", percent(row[field.probability])), element("span", "cell number", seconds(row[field.duration_s])),
        element("span", "cell number", seconds(row[field.seconds])), status].forEach(function (cell) { line.appendChild(cell); });
      line.querySelectorAll(".cell").forEach(function (cell) { cell.setAttribute("role", "cell"); });
      return line;
    }

    // The rows in view: where the list's top is on the screen says which of ``visible`` show.
    function draw() {
      var total = visible.length * rowHeight, height = Math.min(total, maxHeight), view = window.innerHeight;
      list.style.height = height + "px";
      var scrolled = Math.max(0, Math.min(-list.getBoundingClientRect().top, height - view));
      var scale = total > height && height > view ? (total - view) / (height - view) : 1, first = scrolled * scale;
      var from = Math.max(0, Math.floor(first / rowHeight) - around), to = Math.min(visible.length, Math.ceil((first + view) / rowHeight) + around);
      var kept = new Map(), added = document.createDocumentFragment();
      for (var place = from; place < to; place++) {
        var index = visible[place], line = drawn.get(index);
        if (!line) added.appendChild(line = drawRow(index));
        line.style.top = (scrolled + place * rowHeight - first) + "px";
        line.setAttribute("aria-rowindex", place + 2);
        kept.set(index, line);
      }
      drawn.forEach(function (line, index) { if (!kept.has(index)) line.remove(); });
      list.appendChild(added);
      drawn = kept;
    }
    function filter() {
      var text = search.value.toLowerCase(), wanted = labelFilter.value, status = statusFilter.value;
      var position = wanted ? data.labels.indexOf(wanted) : -1;
      if (text && !names) names = rows.map(function (row) { return row[field.path].toLowerCase(); });
      visible = !text && !wanted && !status ? sorted : sorted.filter(function (index) {
        var row = rows[index];
        return (!wanted || row[field.answer] === position) && (!status || row[field.status] === status) && (!text || names[index].indexOf(text) !== -1);
      });
      shown.textContent = visible.length + " of " + rows.length + " shown";
      draw();
    }
    [search, labelFilter, statusFilter].forEach(function (control) { control.addEventListener("input", filter); });
    document.querySelectorAll("[data-filter]").forEach(function (button) {
      button.addEventListener("click", function () {
        labelFilter.value = button.dataset.filter;
        filter();
        document.getElementById("videos").scrollIntoView();
      });
    });

    // Sort by a column: numbers with blanks last, text by the reader's collation; ties keep
    // the rows' order.
    var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
    head.addEventListener("click", function (event) {
      var header = event.target.closest("[data-sort]");
      if (!header) return;
      var column = field[header.dataset.sort], numeric = header.dataset.type === "number";
      var direction = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      head.querySelectorAll("[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
      var keys = rows.map(function (row) { return column === field.answer ? label(row[column]) : row[column]; });
      sorted = rows.map(function (row, index) { return index; }).sort(numeric ? function (a, b) {
        var blankA = keys[a] === null, blankB = keys[b] === null;
        return blankA || blankB ? blankA - blankB : (keys[a] - keys[b]) * direction;
      } : function (a, b) { return collator.compare(keys[a], keys[b]) * direction; });
      filter();
    });

    // Browsers fire these once a frame at most, before drawing it: the rows are there in time.
    window.addEventListener("scroll", draw, { passive: true });
    window.addEventListener("resize", draw);
    filter();
  }
})();
