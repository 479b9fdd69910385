// The desk's Map page: draws the issues of the list below the map (their data-lat/data-lon attributes) on
// an OpenStreetMap map with Leaflet (vendored). No inline script: the CSP forbids it. The list stays the
// page; the map only adds to it, and says so when its tiles cannot load.
(function () {
  "use strict";
  var box = document.getElementById("map");
  if (!box || !window.L) { return; }
  var items = Array.prototype.slice.call(document.querySelectorAll("#map-list li[data-lat]"));
  var centre = (box.dataset.centre || "").split(",").map(Number);
  if (!items.length && centre.length !== 2) { return; }  // nothing to place: the list alone
  box.hidden = false;
  var map = L.map(box, { scrollWheelZoom: false });
  var tiles = L.tileLayer(box.dataset.tiles, {
    maxZoom: 19,
    attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
  });
  var failed = 0;
  tiles.on("tileerror", function () {
    failed += 1;
    if (failed === 3) { document.getElementById("map-offline").hidden = false; }
  });
  tiles.addTo(map);
  var points = [];
  items.forEach(function (li) {
    var at = [Number(li.dataset.lat), Number(li.dataset.lon)];
    if (isNaN(at[0]) || isNaN(at[1])) { return; }
    points.push(at);
    // Built from DOM nodes with textContent: report text never becomes markup.
    var popup = document.createElement("div");
    var link = document.createElement("a");
    link.href = li.dataset.href;
    link.textContent = li.dataset.ref;
    var title = document.createElement("div");
    title.textContent = li.dataset.title;
    popup.appendChild(link);
    popup.appendChild(title);
    L.circleMarker(at, { radius: 8, weight: 2, className: "pin pin-" + li.dataset.group })
      .bindPopup(popup).addTo(map);
  });
  if (points.length > 1) {
    map.fitBounds(points, { padding: [24, 24], maxZoom: 18 });
  } else {
    map.setView(points[0] || centre, 17);
  }
})();
