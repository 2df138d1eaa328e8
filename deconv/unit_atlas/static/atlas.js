/* The unit atlas's pages (deconv): lazy sprite sheets, sorting, the unit view and the search box.
   Each page embeds its data as JSON (#atlas-data); nothing is fetched but images, so the pages
   work from file:// as well as from any static host. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("atlas-data").textContent);
  var message = document.getElementById("search-message");

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatValue(value) {
    return value === null ? "?" : Number(value.toPrecision(4)).toString();
  }

  /* Sprite sheets load when one of their cells comes near the viewport: a cell's background is
     var(--sheet-<n>), set on the cells' container the first time a cell of sheet n is seen. */
  function lazySprites() {
    var cells = Array.prototype.slice.call(document.querySelectorAll(".sprites .cell"));
    function load(cell) {
      var scope = cell.closest(".sprites");
      var name = "--sheet-" + cell.dataset.sheet;
      if (scope.style.getPropertyValue(name)) return;
      scope.urls = scope.urls || JSON.parse(scope.dataset.sprites);
      scope.style.setProperty(name, 'url("' + scope.urls[Number(cell.dataset.sheet)] + '")');
    }
    if (!("IntersectionObserver" in window)) {
      cells.forEach(load);
      return;
    }
    var observer = new IntersectionObserver(function (seen) {
      seen.forEach(function (item) {
        if (item.isIntersecting) {
          load(item.target);
          observer.unobserve(item.target);
        }
      });
    }, {rootMargin: "300px 0px"});
    cells.forEach(function (cell) { observer.observe(cell); });
  }

  /* Search: "conv4_4/350", "conv4_4 350", "block4_conv4/350", "conv4_4", or a unit number on a
     layer page. */
  function findLayer(name) {
    var wanted = name.toLowerCase().replace(/\.html$/, "");
    return data.layers.filter(function (layer) {
      return layer.name.toLowerCase() === wanted || layer.keras.toLowerCase() === wanted;
    })[0];
  }

  function layerNames() {
    var names = data.layers.map(function (layer) { return layer.name; }).join(", ");
    var keras = data.layers.some(function (layer) { return layer.keras !== layer.name; });
    return names + (keras ? " (or their Keras names, e.g. " + data.layers[0].keras + ")" : "");
  }

  function unitRange(layer) {
    return layer.name + " has " + layer.units + " units: 0 to " + (layer.units - 1) + ".";
  }

  function go(query) {
    var parts = query.trim().split(/[\s\/:#]+/).filter(Boolean);
    var here = data.page === "layer" ? data.layer : null;
    if (parts.length === 1 && /^\d+$/.test(parts[0]) && here) parts.unshift(here.name);
    if (parts.length === 0) return say("");
    if (parts.length > 2) {
      return say("Type a layer and a unit, e.g. " + data.layers[0].name + "/0, or a layer.");
    }
    var layer = findLayer(parts[0]);
    if (!layer) {
      return say("No layer named \u201c" + parts[0] + "\u201d. Layers: " + layerNames() + ".");
    }
    var unit = parts.length === 2 ? parts[1].replace(/^unit-?/i, "") : null;
    if (unit !== null && (!/^\d+$/.test(unit) || Number(unit) >= layer.units)) {
      return say(unitRange(layer));
    }
    say("");
    var hash = unit === null ? "" : "unit-" + Number(unit);
    if (here && here.name === layer.name) {
      location.hash = hash;
    } else {
      location.href = layer.page + (hash ? "#" + hash : "");
    }
  }

  function search() {
    var form = document.getElementById("search");
    var box = document.getElementById("search-box");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      go(box.value);
    });
    box.addEventListener("input", function () { say(""); });
  }

  /* The layer page: sorting the grid. */
  function sorting() {
    var grid = document.getElementById("grid");
    var buttons = Array.prototype.slice.call(document.querySelectorAll("[data-sort]"));
    function top(cell) { return cell.dataset.top === "" ? -Infinity : Number(cell.dataset.top); }
    function unit(cell) { return Number(cell.dataset.unit); }
    var orders = {
      id: function (a, b) { return unit(a) - unit(b); },
      top: function (a, b) { return (top(b) - top(a)) || unit(a) - unit(b); }
    };
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        var cells = Array.prototype.slice.call(grid.children).sort(orders[button.dataset.sort]);
        cells.forEach(function (cell) { grid.appendChild(cell); });
        buttons.forEach(function (other) {
          other.setAttribute("aria-pressed", String(other === button));
        });
      });
    });
  }

  /* The layer page: the unit view (#unit-<n>), a permalink that the back button walks. */
  function unitView() {
    var layer = data.layer;
    var grid = document.getElementById("grid-view");
    var view = document.getElementById("unit-view");
    var list = document.getElementById("entries");
    var sourceImage = document.getElementById("source-img");
    var sourceBox = document.getElementById("source-box");
    var caption = document.getElementById("source-caption");
    var maximized = document.getElementById("maximized");
    var title = document.title;
    var shown = null;
    var tile = Math.min(Math.max(layer.tile, 72), 128);  // px on screen

    function shownBox(entry) {  // what the tiles show: the tile's box, else the field
      return entry.length > 9 ? entry.slice(9, 13) : entry.slice(5, 9);
    }

    function place(entry) {
      var scale = sourceImage.clientWidth / layer.size, box = shownBox(entry);
      sourceBox.style.top = box[0] * scale + "px";
      sourceBox.style.left = box[1] * scale + "px";
      sourceBox.style.height = (box[2] - box[0]) * scale + "px";
      sourceBox.style.width = (box[3] - box[1]) * scale + "px";
      sourceBox.hidden = false;
    }

    function showSource(item, entry, rank) {
      Array.prototype.forEach.call(list.children, function (other) {
        other.classList.toggle("active", other === item);
      });
      sourceImage.onload = function () { place(entry); };
      sourceImage.onerror = function () { caption.textContent = "Missing: " + sourceImage.src; };
      sourceImage.alt = data.images[entry[1]];
      sourceImage.src = "sources/" + entry[2] + ".jpg";
      document.getElementById("source").classList.remove("empty");
      place(entry);
      var box = shownBox(entry);
      caption.textContent = "#" + rank + ": " + data.images[entry[1]] + " (" +
        (entry.length > 9 ? "shown in the tiles" : "receptive field") + ": rows " + box[0] +
        "\u2013" + box[2] + ", columns " + box[1] + "\u2013" + box[3] + " of " + layer.size +
        "\u00d7" + layer.size + ")";
    }

    function tileOf(strip, count, column, row) {
      var node = element("span", "tile");
      node.style.width = node.style.height = tile + "px";
      node.style.backgroundImage = 'url("' + strip + '")';
      node.style.backgroundSize = count * tile + "px " + 2 * tile + "px";
      node.style.backgroundPosition = -column * tile + "px " + -row * tile + "px";
      return node;
    }

    function entryItem(strip, entries, rank) {
      var entry = entries[rank - 1];
      var item = element("li");
      item.tabIndex = 0;
      var pair = element("div", "pair");
      pair.appendChild(tileOf(strip, entries.length, rank - 1, 0));
      pair.appendChild(tileOf(strip, entries.length, rank - 1, 1));
      var meta = element("div", "meta");
      meta.appendChild(element("span", "rank", "#" + rank));
      meta.appendChild(element("span", "value", formatValue(entry[0])));
      var name = element("div", "image", data.images[entry[1]]);
      name.title = data.images[entry[1]];
      meta.appendChild(name);
      meta.appendChild(element("div", "where", "map y " + entry[3] + ", x " + entry[4]));
      item.appendChild(pair);
      item.appendChild(meta);
      ["mouseenter", "focus", "click"].forEach(function (kind) {
        item.addEventListener(kind, function () { showSource(item, entry, rank); });
      });
      return item;
    }

    function summary(unit, entries) {
      var silent = entries.every(function (entry) { return entry[0] <= 0; });
      var parts = [layer.keras === layer.name ? "" : "Keras layer " + layer.keras,
        entries.length + " entr" + (entries.length === 1 ? "y" : "ies"),
        entries.length ? "top value " + formatValue(entries[0][0]) : "",
        silent ? "never activates on these images (every value \u2264 0)" : ""];
      var text = document.getElementById("unit-summary");
      text.textContent = parts.filter(Boolean).join(" \u00b7 ");
      text.classList.toggle("silent", silent);
    }

    function loadStrip(strip, entries) {
      view.dataset.strip = entries.length ? "loading" : "none";
      if (!entries.length) return;
      var probe = new Image();
      probe.onload = function () {
        if (probe.src === view.stripUrl) view.dataset.strip = "loaded";
      };
      probe.onerror = function () {
        if (probe.src !== view.stripUrl) return;
        view.dataset.strip = "missing";
        say("This unit's image is missing: " + strip);
      };
      probe.src = strip;
      view.stripUrl = probe.src;
    }

    function open(unit) {
      var entries = data.top[unit];
      var strip = layer.strips.replace("{unit}", unit);
      shown = unit;
      grid.hidden = true;
      view.hidden = false;
      document.getElementById("unit-title").textContent = "Unit " + unit;
      document.title = layer.name + " unit " + unit + ": unit atlas";
      document.getElementById("prev").disabled = unit === 0;
      document.getElementById("next").disabled = unit === layer.units - 1;
      summary(unit, entries);
      list.textContent = "";
      for (var rank = 1; rank <= entries.length; rank++) {
        list.appendChild(entryItem(strip, entries, rank));
      }
      loadStrip(strip, entries);
      sourceImage.removeAttribute("src");
      document.getElementById("source").classList.add("empty");
      sourceBox.hidden = true;
      caption.textContent = "Hover an entry to see its source image with the receptive field.";
      maximized.hidden = !layer.maximized;
      if (layer.maximized) {
        maximized.querySelector("img").src = layer.maximized.replace("{unit}", unit);
      }
      window.scrollTo(0, 0);
    }

    function close() {
      view.hidden = true;
      grid.hidden = false;
      document.title = title;
      if (shown === null) return;
      var cell = document.querySelector('#grid .cell[data-unit="' + shown + '"]');
      shown = null;
      Array.prototype.forEach.call(document.querySelectorAll("#grid .was"), function (other) {
        other.classList.remove("was");
      });
      if (cell) {
        cell.classList.add("was");
        cell.scrollIntoView({block: "center"});
      }
    }

    function route() {
      var match = /^#unit-(\d+)$/.exec(location.hash);
      if (match && Number(match[1]) < layer.units) {
        say("");
        return open(Number(match[1]));
      }
      if (match) say(unitRange(layer));
      close();
    }

    function step(by) {
      if (shown !== null && shown + by >= 0 && shown + by < layer.units) {
        location.hash = "unit-" + (shown + by);
      }
    }

    document.getElementById("prev").addEventListener("click", function () { step(-1); });
    document.getElementById("next").addEventListener("click", function () { step(1); });
    document.addEventListener("keydown", function (event) {
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
      if (shown === null || typing || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "ArrowLeft") step(-1);
      else if (event.key === "ArrowRight") step(1);
      else if (event.key === "Escape") location.hash = "";
    });
    window.addEventListener("hashchange", route);
    route();
  }

  lazySprites();
  search();
  if (data.page === "layer") {
    sorting();
    unitView();
  }
}());
