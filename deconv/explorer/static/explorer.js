/* The live explorer's page (deconv): an image goes in, a layer's maps come back as one grid
   picture, a click on a map projects its strongest activation, a click in the enlarged map
   projects that position. Everything comes from this server's JSON API (see the README). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = {info: null, image: null, layer: null, unit: null, position: null, grid: null,
               request: 0, job: null};

  function say(text) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
  }

  function query(params) {
    return Object.keys(params).filter(function (key) {
      return params[key] !== null && params[key] !== undefined;
    }).map(function (key) {
      return encodeURIComponent(key) + "=" + encodeURIComponent(params[key]);
    }).join("&");
  }

  function api(method, url, body) {
    return fetch(url, {method: method, body: body}).then(function (response) {
      return response.json().then(function (content) {
        if (!response.ok) throw new Error(content.error || response.statusText);
        return content;
      });
    });
  }

  function checked(name) {
    return document.querySelector('input[name="' + name + '"]:checked').value;
  }

  function format(value) {
    return Number(Number(value).toPrecision(4)).toString();
  }

  /* Images. */

  function useImage(answer) {
    state.image = answer.image;
    $("input").src = "/api/images/" + answer.image + ".png";
    $("input-caption").textContent = "Input, " + answer.original[1] + "\u00d7" +
      answer.original[0] + " px, seen at " + answer.size[1] + "\u00d7" + answer.size[0];
    $("occlude").disabled = true;
    clearSelection();
    return loadGrid();
  }

  function upload(file) {
    say("");
    return api("POST", "/api/images", file).then(useImage).catch(function (error) {
      say(file.name + ": " + error.message);
    });
  }

  function showExamples(names) {
    names.forEach(function (name) {
      var button = document.createElement("button");
      var picture = document.createElement("img");
      picture.src = "/api/examples/" + encodeURIComponent(name);
      picture.alt = name;
      button.title = name;
      button.dataset.example = name;
      button.appendChild(picture);
      button.addEventListener("click", function () {
        api("POST", "/api/examples/" + encodeURIComponent(name)).then(useImage)
          .catch(function (error) { say(error.message); });
      });
      $("examples").appendChild(button);
    });
    $("examples").hidden = !names.length;
  }

  /* The grid of a layer's maps: one picture, each cell a window on it. */

  function loadGrid() {
    if (!state.image) return Promise.resolve();
    var params = query({image: state.image, layer: state.layer, normalize: $("normalize").value});
    $("grid").dataset.state = "loading";
    return api("GET", "/api/maps?" + params).then(function (grid) {
      state.grid = grid;
      grid.picture = "/api/maps.png?" + params;
      drawGrid();
      if (state.unit !== null) selectUnit(state.unit, state.position);
    }).catch(function (error) { say(error.message); });
  }

  function drawGrid() {
    var grid = state.grid, container = $("grid");
    var size = parseFloat(getComputedStyle(container).getPropertyValue("--cell")) || 56;
    var scale = size / Math.max(grid.cell[0], grid.cell[1]);
    var rows = Math.ceil(grid.units / grid.columns);
    var order = grid.strength.map(function (value, unit) { return unit; });
    if (checked("order") === "strength") {
      order.sort(function (a, b) { return grid.strength[b] - grid.strength[a] || a - b; });
    }
    container.textContent = "";
    order.forEach(function (unit) {
      var cell = document.createElement("div");
      var row = Math.floor(unit / grid.columns), column = unit % grid.columns;
      cell.className = "cell" + (unit === state.unit ? " selected" : "");
      cell.dataset.unit = unit;
      cell.title = "map " + unit + ", max " + format(grid.strength[unit]);
      cell.style.backgroundImage = 'url("' + grid.picture + '")';
      cell.style.backgroundSize = (grid.columns * grid.cell[1] * scale) + "px " +
        (rows * grid.cell[0] * scale) + "px";
      cell.style.backgroundPosition = (-column * grid.cell[1] * scale) + "px " +
        (-row * grid.cell[0] * scale) + "px";
      cell.style.width = grid.cell[1] * scale + "px";
      cell.style.height = grid.cell[0] * scale + "px";
      var label = document.createElement("span");
      label.textContent = unit;
      cell.appendChild(label);
      container.appendChild(cell);
    });
    $("grid-title").textContent = grid.layer + ": " + grid.units + " maps of " +
      grid.map_size[0] + "\u00d7" + grid.map_size[1] + " (click one)";
    container.dataset.state = "loaded";
    container.dataset.layer = grid.layer;
  }

  /* A layer's projection graphs: built and traced in the background when the layer is opened
     (or the rule changed), so that its first click does not wait for them; the page says so
     while they are prepared. */

  function prepareLayer() {
    var layer = state.layer, rule = checked("rule");
    api("POST", "/api/prepare?" + query({layer: layer, rule: rule})).then(function (found) {
      showReadiness(layer, rule, found.state);
    }).catch(function (error) { say(error.message); });
  }

  function showReadiness(layer, rule, readiness) {
    if (layer !== state.layer || rule !== checked("rule")) return;
    var note = $("preparing");
    note.dataset.layer = layer;
    note.dataset.state = readiness;
    note.hidden = readiness !== "preparing";
    if (readiness !== "preparing") return;
    note.textContent = "Preparing " + layer + "'s projections (" +
      (rule === "guided" ? "guided backprop" : "deconvnet") + "): building and tracing its " +
      "graph, a few seconds once per layer\u2026";
    setTimeout(function () {
      api("GET", "/api/prepare?" + query({layer: layer, rule: rule})).then(function (found) {
        showReadiness(layer, rule, found.state);
      }).catch(function (error) { say(error.message); });
    }, 500);
  }

  /* Selecting a map, projecting it. */

  function clearSelection() {
    state.unit = null;
    state.position = null;
    ["projection", "map"].forEach(function (id) {
      $(id).removeAttribute("src");
      delete $(id).dataset.key;
    });
    $("rf").hidden = $("erf").hidden = $("marker").hidden = $("atlas").hidden = true;
    $("occlusion-img").hidden = true;
    $("occlusion-caption").textContent = "";
  }

  function selectUnit(unit, position) {
    state.unit = unit;
    state.position = position || null;
    Array.prototype.forEach.call(document.querySelectorAll(".cell.selected"), function (cell) {
      cell.classList.remove("selected");
    });
    var cell = document.querySelector('.cell[data-unit="' + unit + '"]');
    if (cell) cell.classList.add("selected");
    $("map").src = "/api/map.png?" + query({image: state.image, layer: state.layer, unit: unit,
                                            normalize: $("normalize").value});
    $("map").dataset.key = state.layer + "/" + unit;
    $("map-caption").textContent = "Map " + unit + ", max " +
      format(state.grid.strength[unit]) + ": click a position to project it";
    $("occlude").disabled = false;
    project();
    showAtlas(unit);
  }

  function project() {
    var whole = $("whole").checked, rule = checked("rule");
    var position = whole ? null : state.position;
    var key = [state.layer, state.unit, rule, whole ? "maps" : "activation",
               position ? position.join(",") : "max"].join("/");
    var number = ++state.request;
    $("projection").dataset.state = "loading";
    return api("GET", "/api/project?" + query({
      image: state.image, layer: state.layer, unit: state.unit, rule: rule,
      mode: whole ? "maps" : "activation", y: position && position[0],
      x: position && position[1]})).then(function (found) {
      if (number !== state.request) return;  // a later click answered first
      $("projection").src = found.image;
      $("projection").dataset.key = key;
      $("projection").dataset.state = "shown";
      $("projection-caption").textContent = (whole ? "Whole map " : "Map ") + found.unit +
        (whole ? "" : " at (" + found.position.join(", ") + ")") + ", value " +
        format(found.value) + ", " + (rule === "guided" ? "guided backprop" : "deconvnet");
      drawBox(found.box, "rf");
      drawBox(found.box_effective, "erf");
      drawMarker(whole ? null : found.position);
    }).catch(function (error) { say(error.message); });
  }

  /* Beside the rule toggle: a layer whose deconvnet projections cannot depend on the image. */
  function showDependence() {
    var layer = state.info.layers.filter(function (one) {
      return one.keras === state.layer || one.name === state.layer;
    })[0];
    var note = $("dependence");
    note.hidden = !(layer && layer.deconvnet.independent && checked("rule") === "deconvnet");
    note.textContent = "deconvnet: the same picture for every image here (no max-pool below " +
      "this layer); guided backprop shows what in the image drove it";
    note.title = layer ? "deconvnet projections " + layer.deconvnet.verdict : "";
  }

  function drawBox(box, id) {
    var size = state.info.size, frame = $("input-frame");
    if (!box) { $(id).hidden = true; return; }
    var scale = frame.clientWidth / size;
    var rf = $(id);
    rf.style.top = box[0] * scale + "px";
    rf.style.left = box[1] * scale + "px";
    rf.style.height = (box[2] - box[0]) * scale + "px";
    rf.style.width = (box[3] - box[1]) * scale + "px";
    rf.dataset.box = box.join(",");
    rf.hidden = false;
  }

  function mapScale() {
    var size = state.grid.map_size, frame = $("map-frame");
    var scale = Math.min(frame.clientWidth / size[1], frame.clientHeight / size[0]);
    return {scale: scale, top: (frame.clientHeight - size[0] * scale) / 2,
            left: (frame.clientWidth - size[1] * scale) / 2};
  }

  function drawMarker(position) {
    if (!position) { $("marker").hidden = true; return; }
    var place = mapScale(), marker = $("marker");
    marker.style.top = place.top + position[0] * place.scale + "px";
    marker.style.left = place.left + position[1] * place.scale + "px";
    marker.style.width = marker.style.height = Math.max(place.scale, 3) + "px";
    marker.hidden = false;
  }

  function clickMap(event) {
    if (state.unit === null) return;
    var place = mapScale(), bounds = $("map-frame").getBoundingClientRect();
    var y = Math.floor((event.clientY - bounds.top - place.top) / place.scale);
    var x = Math.floor((event.clientX - bounds.left - place.left) / place.scale);
    var size = state.grid.map_size;
    if (y < 0 || x < 0 || y >= size[0] || x >= size[1]) return;
    state.position = [y, x];
    $("whole").checked = false;
    project();
  }

  /* The atlas's dataset top-k of the selected unit. */

  function showAtlas(unit) {
    var atlas = state.info.atlas;
    if (!atlas || atlas.layers.indexOf(state.layer) < 0) { $("atlas").hidden = true; return; }
    api("GET", "/api/atlas/unit?" + query({layer: state.layer, unit: unit})).then(function (found) {
      if (found.unit !== state.unit) return;
      $("atlas-strip").src = "/atlas/" + found.strip;
      $("atlas-caption").textContent = "map " + unit + " across the atlas's images (" +
        found.rule + "): projections above, patches below";
      var list = $("atlas-entries");
      list.textContent = "";
      found.entries.forEach(function (entry, rank) {
        var item = document.createElement("li"), number = document.createElement("span");
        number.className = "rank";
        number.textContent = (rank + 1) + ".";
        item.appendChild(number);
        item.appendChild(document.createTextNode(" " + entry.image + " \u2014 " +
                                                format(entry.value)));
        item.title = entry.image + " (" + format(entry.value) + ")";
        list.appendChild(item);
      });
      showMaximized(found);
      $("atlas").dataset.unit = unit;
      $("atlas").hidden = false;
    }).catch(function (error) { say(error.message); });
  }

  /* The atlas's feature visualization of the unit, beside its natural top-k (never instead). */

  function showMaximized(found) {
    $("atlas-maximized").hidden = !found.maximized;
    if (!found.maximized) return;
    $("atlas-maximized-img").src = "/atlas/" + found.maximized;
    var made = found.maximization;
    $("atlas-maximized-caption").textContent = !made ? "feature visualization" :
      made.param + ", " + made.steps + " steps: " + (made.ratio === null ? "no natural image" +
      " turns this unit on" : made.ratio.toFixed(2) + "\u00d7 the top-1 natural activation");
  }

  /* Occlusion, a job polled until done. */

  function occlude() {
    var bar = $("occlusion-progress");
    api("POST", "/api/occlusion?" + query({image: state.image, layer: state.layer,
                                            unit: state.unit})).then(function (job) {
      state.job = job.job;
      bar.hidden = false;
      $("occlusion-img").hidden = true;
      poll(job);
    }).catch(function (error) { say(error.message); });
  }

  function poll(job) {
    var bar = $("occlusion-progress");
    if (job.job !== state.job) return;
    bar.max = job.total;
    bar.value = job.done;
    $("occlusion-caption").textContent = job.layer + " map " + job.unit + ": " + job.done +
      " of " + job.total + " positions";
    if (job.state === "failed") { bar.hidden = true; say(job.error); return; }
    if (job.state === "done") {
      bar.hidden = true;
      $("occlusion-img").src = "/api/occlusion/" + job.job + ".png";
      $("occlusion-img").hidden = false;
      $("occlusion-caption").textContent = "Total of map " + job.unit + " as a " + job.size +
        " px square slides over the image (unoccluded " + format(job.baseline) + ")";
      return;
    }
    setTimeout(function () {
      api("GET", "/api/occlusion/" + job.job).then(poll)
        .catch(function (error) { say(error.message); });
    }, 250);
  }

  /* Start. */

  function wire() {
    $("file").addEventListener("change", function () {
      if (this.files.length) upload(this.files[0]);
      this.value = "";
    });
    var drop = $("drop");
    document.addEventListener("dragover", function (event) {
      event.preventDefault();
      drop.classList.add("over");
    });
    document.addEventListener("dragleave", function () { drop.classList.remove("over"); });
    document.addEventListener("drop", function (event) {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0]);
    });
    $("layer").addEventListener("change", function () {
      state.layer = this.value;
      clearSelection();
      showDependence();
      loadGrid();
      prepareLayer();
    });
    $("normalize").addEventListener("change", loadGrid);
    Array.prototype.forEach.call(document.querySelectorAll('input[name="order"]'),
      function (input) { input.addEventListener("change", drawGrid); });
    Array.prototype.forEach.call(document.querySelectorAll('input[name="rule"], #whole'),
      function (input) {
        input.addEventListener("change", function () {
          if (input.name === "rule") prepareLayer();
          showDependence();
          if (state.unit !== null) project();
        });
      });
    $("grid").addEventListener("click", function (event) {
      var cell = event.target.closest(".cell");
      if (cell) selectUnit(Number(cell.dataset.unit), null);
    });
    $("map-frame").addEventListener("click", clickMap);
    $("occlude").addEventListener("click", occlude);
  }

  function start(info) {
    state.info = info;
    var about = info.about || {};
    $("model").textContent = [about.model, about.weights && "weights " + about.weights]
      .filter(Boolean).join(", ");
    info.layers.forEach(function (layer) {
      var option = document.createElement("option");
      option.value = layer.name;
      option.textContent = layer.name + " (" + layer.units + " maps)";
      $("layer").appendChild(option);
    });
    var convs = info.layers.filter(function (layer) { return /conv/.test(layer.keras); });
    state.layer = (convs.length ? convs[convs.length - 1] : info.layers[0]).name;
    $("layer").value = state.layer;
    showExamples(info.examples);
    wire();
    prepareLayer();
    showDependence();
    document.body.dataset.ready = "true";
  }

  api("GET", "/api/info").then(start).catch(function (error) { say(error.message); });
}());
