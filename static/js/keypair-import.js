/**
 * keypair-import.js: the live preview on the import form. As the person types or pastes a
 * public key, or chooses a .pub file, the key is sent to the server's preview endpoint
 * (POST, with the form's CSRF token, in the body only) and what the server understood (type,
 * size, SHA256 fingerprint, comment) or its refusal sentence is shown. The server decides: the
 * browser parses nothing, and the submit is checked again on the server.
 *
 * Markup contract (templates/keypairs/import.html):
 *   [data-import-preview]  container, data-preview-url = the endpoint
 *   #id_public_key, #id_public_key_file  the inputs
 *   #key-preview with #preview-type, #preview-bits, #preview-fingerprint, #preview-comment
 *   #key-preview-error     where a refusal is written
 * Everything is written with textContent, never as HTML. Nothing is logged or stored. The
 * server's answers come in the page's language; the script's own words ("3072 bits") come from
 * the JS catalogue that base.html loads from /jsi18n/.
 */
(function () {
  "use strict";
  // The JS catalogue (/jsi18n/, loaded by base.html before this script) translates; should it
  // be missing, the English is shown rather than nothing.
  var gettext = window.gettext || function (text) { return text; };
  var interpolate =
    window.interpolate ||
    function (template, values) {
      return template.replace(/%\((\w+)\)s/g, function (placeholder, key) {
        return String(values[key]);
      });
    };

  var container = document.querySelector("[data-import-preview]");
  if (!container) return;
  var form = container.closest("form");
  var textarea = document.getElementById("id_public_key");
  var fileInput = document.getElementById("id_public_key_file");
  var preview = document.getElementById("key-preview");
  var failure = document.getElementById("key-preview-error");
  var url = container.getAttribute("data-preview-url");
  var timer = null;
  var asked = 0;

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function show(answer) {
    if (answer.ok) {
      document.getElementById("preview-type").textContent = answer.key_type;
      document.getElementById("preview-bits").textContent = interpolate(
        gettext("%(bits)s bits"),
        { bits: answer.bits },
        true
      );
      document.getElementById("preview-fingerprint").textContent = answer.sha256_fingerprint;
      document.getElementById("preview-comment").textContent = answer.comment;
      preview.hidden = false;
      failure.hidden = true;
      failure.textContent = "";
    } else {
      preview.hidden = true;
      failure.textContent = answer.message || "";
      failure.hidden = !answer.message;
    }
  }

  function ask() {
    var body = new FormData();
    var file = fileInput && fileInput.files && fileInput.files[0];
    if (file) {
      body.append("public_key_file", file);
    } else if (textarea.value.trim()) {
      body.append("public_key", textarea.value);
    } else {
      preview.hidden = true;
      failure.hidden = true;
      return;
    }
    var number = ++asked;
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (answer) {
        if (number === asked) show(answer); // an older answer never replaces a newer one
      })
      .catch(function () {
        /* the preview is advice; the submit is checked on the server anyway */
      });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(ask, 300);
  }

  textarea.addEventListener("input", soon);
  textarea.addEventListener("change", soon);
  if (fileInput) fileInput.addEventListener("change", ask);
})();
