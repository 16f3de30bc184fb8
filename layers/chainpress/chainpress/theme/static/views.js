/* chainpress view counter. Loaded with defer; the page is complete without it (counts stay
   hidden). An article page counts one view (POST) and shows the total; any other
   .views[data-slug] element is filled with one GET per 100 slugs; the home hot list is
   refreshed from the hot API. Text only (textContent), never HTML from the API. */
(function () {
  "use strict";
  var script = document.currentScript;
  var API = (script && script.getAttribute("data-api")) || "/api";
  var BATCH = 100;

  function show(el, n) {
    if (typeof n !== "number" || !isFinite(n)) return;
    var text = n.toLocaleString();
    var slot = el.querySelector(".views-n");
    if (slot) slot.textContent = text;
    else el.textContent = text;
    el.hidden = false;
  }

  function getJSON(url, init) {
    return fetch(url, init).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });
  }

  var all = Array.prototype.slice.call(document.querySelectorAll(".views[data-slug]"));
  var counted = document.querySelector(".views[data-slug][data-count-view]");
  var rest = [];
  var bySlug = {};
  all.forEach(function (el) {
    if (el === counted) return;
    var slug = el.getAttribute("data-slug");
    if (!bySlug[slug]) {
      bySlug[slug] = [];
      rest.push(slug);
    }
    bySlug[slug].push(el);
  });

  if (counted) {
    // keepalive: the count still lands if the reader leaves at once; fetch (not sendBeacon)
    // because the answer carries the new total.
    var slug = counted.getAttribute("data-slug");
    getJSON(API + "/views/" + encodeURIComponent(slug), { method: "POST", keepalive: true })
      .then(function (data) { show(counted, data && data.views); })
      .catch(function () {});
  }

  for (var i = 0; i < rest.length; i += BATCH) {
    var chunk = rest.slice(i, i + BATCH);
    getJSON(API + "/views?slugs=" + chunk.map(encodeURIComponent).join(","))
      .then(function (data) {
        var views = (data && data.views) || {};
        Object.keys(views).forEach(function (s) {
          (bySlug[s] || []).forEach(function (el) { show(el, views[s]); });
        });
      })
      .catch(function () {});
  }

  var hot = document.querySelector("[data-hot-window]");
  if (hot) {
    var win = hot.getAttribute("data-hot-window");
    getJSON(API + "/hot?window=" + encodeURIComponent(win) + "&limit=10")
      .then(function (data) {
        var items = (data && data.items) || [];
        if (!items.length) return; // keep the list the page was built with
        var list = document.createDocumentFragment();
        items.forEach(function (item) {
          var url = String(item.url || "");
          // Only site paths become links (never javascript: or another origin).
          if (url.charAt(0) !== "/" || url.charAt(1) === "/") return;
          var li = document.createElement("li");
          var a = document.createElement("a");
          a.href = url;
          a.textContent = item.title;
          li.appendChild(a);
          var n = document.createElement("span");
          n.className = "hot-views";
          n.textContent = "Click : " + Number(item.views || 0).toLocaleString();
          li.appendChild(document.createTextNode(" "));
          li.appendChild(n);
          list.appendChild(li);
        });
        if (!list.childNodes.length) return;
        while (hot.firstChild) hot.removeChild(hot.firstChild);
        hot.appendChild(list);
      })
      .catch(function () {});
  }
})();
