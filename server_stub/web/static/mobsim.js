// mobsim's web page (server_stub/web/): the parts that change without a reload. No framework, no build.
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) {
        throw new Error("HTTP " + r.status);
      }
      return r.json();
    });
  }

  function setText(root, selector, value) {
    var el = root.querySelector(selector);
    if (el) {
      el.textContent = String(value);
    }
  }

  // /ui/live: the counters and a bar per second of the last minute, every second.
  function drawBars(el, values) {
    while (el.children.length < values.length) {
      el.appendChild(document.createElement("span"));
    }
    var top = Math.max.apply(null, values.concat([1]));
    for (var i = 0; i < values.length; i++) {
      el.children[i].style.height = (100 * values[i] / top).toFixed(1) + "%";
      el.children[i].title = values[i] + " (" + (values.length - 1 - i) + " s ago)";
    }
  }

  function live(root) {
    var status = document.getElementById("live-status");
    var interval = parseInt(root.getAttribute("data-interval-ms"), 10) || 1000;
    function tick() {
      getJSON(root.getAttribute("data-source")).then(function (data) {
        var cards = root.querySelectorAll("[data-kind]");
        for (var i = 0; i < cards.length; i++) {
          var kind = cards[i].getAttribute("data-kind");
          setText(cards[i], "[data-field=lastSecond]", data.lastSecond[kind]);
          setText(cards[i], "[data-field=perSecond]", data.perSecond[kind]);
          setText(cards[i], "[data-field=total]", data.totals[kind]);
          var bars = cards[i].querySelector(".bars");
          if (bars) {
            drawBars(bars, data.series[kind]);
          }
        }
        if (status) {
          status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
        }
      }).catch(function (error) {
        if (status) {
          status.textContent = "No answer from the server (" + error.message + "); trying again.";
        }
      }).then(function () {
        window.setTimeout(tick, interval);
      });
    }
    tick();
  }

  // /ui/segments: each segment's count, evaluated again every few seconds while the page is shown.
  function segments(table) {
    var seconds = parseInt(table.getAttribute("data-refresh-seconds"), 10) || 10;
    function refresh() {
      if (document.visibilityState === "hidden") {
        return;
      }
      var rows = table.querySelectorAll("tr[data-count-url]");
      Array.prototype.forEach.call(rows, function (row) {
        getJSON(row.getAttribute("data-count-url")).then(function (count) {
          setText(row, "[data-field=persons]", count.persons);
          setText(row, "[data-field=installations]", count.installations);
          row.removeAttribute("data-problem");
        }).catch(function (error) {
          row.setAttribute("data-problem", error.message);
        });
      });
    }
    window.setInterval(refresh, seconds * 1000);
  }

  function start() {
    var root = document.getElementById("live");
    if (root) {
      live(root);
    }
    var table = document.getElementById("segments-table");
    if (table) {
      segments(table);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
