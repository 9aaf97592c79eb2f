/**
 * keypair-detail.js: small conveniences on a key pair's page. The page works without it.
 *
 * - "Copy public key" (#copy-public-key, hidden until this script shows it) copies the
 *   read-only #public-key text to the clipboard.
 * - After the download form (#download-form) is submitted, the browser saves the file and
 *   stays on this page; reload it shortly after so that it shows "Downloaded at … from …".
 *   The button is disabled at once: the key can be downloaded once only.
 */
(function () {
  "use strict";
  // The JS catalogue (/jsi18n/, loaded by base.html before this script) translates; should it
  // be missing, the English is shown rather than nothing.
  var gettext = window.gettext || function (text) { return text; };
  var copyButton = document.getElementById("copy-public-key");
  var publicKey = document.getElementById("public-key");
  if (copyButton && publicKey && navigator.clipboard) {
    copyButton.hidden = false;
    copyButton.addEventListener("click", function () {
      navigator.clipboard.writeText(publicKey.value).then(function () {
        copyButton.textContent = gettext("Copied");
      });
    });
  }
  var downloadForm = document.getElementById("download-form");
  if (downloadForm) {
    downloadForm.addEventListener("submit", function () {
      var button = document.getElementById("download-button");
      window.setTimeout(function () {
        if (button) { button.disabled = true; }
      }, 0);
      window.setTimeout(function () { window.location.reload(); }, 1500);
    });
  }
})();
