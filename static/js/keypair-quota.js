/**
 * keypair-quota.js: on the create form, show how many key pairs are left in the chosen region.
 *
 * The server renders one line per offered region inside #region-quota, each a
 * <span data-region="bj">, and hides all but the region chosen when the page was made (so the
 * right line shows with JavaScript off). This script only shows the line of the region chosen
 * in #id_region whenever the choice changes; the numbers come from the server
 * (keypairs/limits.py), which caches BCC's count. Loaded with `defer` from a static file: the
 * Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";

  var select = document.getElementById("id_region");
  var box = document.getElementById("region-quota");
  if (!select || !box) {
    return;
  }

  function showChosen() {
    var lines = box.querySelectorAll("[data-region]");
    for (var i = 0; i < lines.length; i++) {
      lines[i].hidden = lines[i].getAttribute("data-region") !== select.value;
    }
  }

  select.addEventListener("change", showChosen);
  showChosen();
})();
