/**
 * keypair-generate.js: "Generate in your browser" on the import form. The browser makes the key
 * pair with WebCrypto, saves the private key to the person's disk, and hands only the public key
 * to the import form, which submits it like a pasted key (the server checks it the same way).
 *
 * Security model. The private key exists only inside this script's local variables: it is
 * exported once as PKCS#8, written into a Blob and saved through a transient <a download> whose
 * `blob:` URL is revoked right after; the anchor never carries the key itself, only that URL.
 * It is never put in a form field, a request, a cookie, localStorage/sessionStorage, the DOM, an
 * event's detail, or a console message, and the exported bytes are zeroed once the Blob holds
 * them (JavaScript strings cannot be wiped: the PEM text is left to the garbage collector). The
 * private key is saved BEFORE the form is submitted, so a key pair is never imported whose
 * private key the browser did not at least start saving. The script is loaded with `defer`
 * from a static file (the Content-Security-Policy allows no inline script) and needs no
 * framework.
 *
 * The markup contract (templates/keypairs/_generate_in_browser.html renders it; include that
 * fragment inside the import <form>):
 *
 *   [data-keypair-generate]   the container. Its attributes:
 *     data-name-field="id_name"               id of the form's key pair name input; its value
 *                                             names the saved file `<name>.pem` ('/' becomes '_')
 *                                             and is the public key line's comment.
 *     data-public-key-field="id_public_key"   id of the form's public key <textarea>; the
 *                                             OpenSSH line is put there, then the form is submitted.
 *     The sentences this script writes (the name is needed, generating, saved as <file>,
 *     failed) come from the JS catalogue that base.html loads from /jsi18n/ (djangojs).
 *
 *   [data-keypair-generate-controls]    rendered `hidden`; shown only when WebCrypto is there.
 *   [data-keypair-generate-algorithm]   a <select> inside the controls, values "rsa-3072"
 *                                       (RSA 3072 bits, the default) and "ecdsa-p256".
 *   [data-keypair-generate-button]      a <button type="button"> inside the controls.
 *   [data-keypair-generate-status]      where progress and failures are written (textContent);
 *                                       the template makes it role="status".
 *   [data-keypair-generate-unavailable] rendered `hidden`; shown (and the controls kept hidden)
 *                                       when window.crypto.subtle is missing, e.g. on a page not
 *                                       served over HTTPS. It says why and offers create and
 *                                       import instead. A <noscript> says the same without
 *                                       JavaScript.
 *
 * Events, dispatched on the container (they bubble; none carries the private key):
 *   keypair-generate:ready        WebCrypto is there and the controls are shown.
 *   keypair-generate:unavailable  WebCrypto is missing; the unavailable message is shown.
 *   keypair-generate:saved        detail {fileName, algorithm, publicKey}: the private key's
 *                                 download was started and the public key line is in the
 *                                 textarea; the form is submitted right after, with
 *                                 form.requestSubmit() (so submit handlers and the double-submit
 *                                 guard of keypair-form.js run). The textarea also gets `input`
 *                                 and `change` events, for a live preview.
 *   keypair-generate:failed       WebCrypto threw; nothing was saved or sent.
 *
 * Before generating, every other field of the form must pass its browser validity check (the
 * public key field is the one this fills): a key pair whose import the form would then refuse
 * to send would leave a saved private key with nothing imported. The server still decides; when
 * it refuses, it should render the textarea's value back so the same public key can be sent
 * again without generating another key pair.
 */
(function () {
  "use strict";

  // The JS catalogue (/jsi18n/, loaded by base.html before this script) translates; should it
  // be missing, the English is shown rather than nothing.
  var gettext = window.gettext || function (text) { return text; };

  var ALGORITHMS = {
    "rsa-3072": {
      // RSASSA-PKCS1-v1_5 / SHA-256 only shapes the CryptoKey; the PKCS#8 file is a plain RSA
      // key (rsaEncryption) that OpenSSH signs with as rsa-sha2-256/512.
      params: {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 3072,
        publicExponent: new Uint8Array([0x01, 0x00, 0x01]), // 65537
        hash: "SHA-256",
      },
      publicKeyLine: rsaPublicKeyLine,
    },
    "ecdsa-p256": {
      params: { name: "ECDSA", namedCurve: "P-256" },
      publicKeyLine: ecdsaP256PublicKeyLine,
    },
  };
  var DEFAULT_ALGORITHM = "rsa-3072";
  var PEM_LINE_LENGTH = 64;

  // --- Encoding ------------------------------------------------------------------------------

  function base64FromBytes(bytes) {
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary);
  }

  function bytesFromBase64Url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function concat(parts) {
    var length = parts.reduce(function (sum, part) {
      return sum + part.length;
    }, 0);
    var joined = new Uint8Array(length);
    var offset = 0;
    parts.forEach(function (part) {
      joined.set(part, offset);
      offset += part.length;
    });
    return joined;
  }

  /** SSH `string` (RFC 4251 section 5): a uint32 big-endian length, then the bytes. */
  function sshString(bytes) {
    if (typeof bytes === "string") bytes = new TextEncoder().encode(bytes);
    var length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length);
    return concat([length, bytes]);
  }

  /** SSH `mpint` of a positive number given big-endian: no leading zero bytes, except one
   * when the top bit is set, since an mpint is two's complement and the number is positive. */
  function sshMpint(bytes) {
    var start = 0;
    while (start < bytes.length && bytes[start] === 0) start++;
    var magnitude = bytes.subarray(start);
    if (magnitude.length && magnitude[0] & 0x80) magnitude = concat([new Uint8Array([0]), magnitude]);
    return sshString(magnitude);
  }

  function opensshLine(type, blobParts, comment) {
    var line = type + " " + base64FromBytes(concat(blobParts));
    return comment ? line + " " + comment : line;
  }

  /** `ssh-rsa` (RFC 4253 section 6.6): string "ssh-rsa", mpint e, mpint n, from the JWK. */
  function rsaPublicKeyLine(subtle, publicKey, comment) {
    return subtle.exportKey("jwk", publicKey).then(function (jwk) {
      return opensshLine(
        "ssh-rsa",
        [sshString("ssh-rsa"), sshMpint(bytesFromBase64Url(jwk.e)), sshMpint(bytesFromBase64Url(jwk.n))],
        comment
      );
    });
  }

  /** `ecdsa-sha2-nistp256` (RFC 5656 section 3.1): the type, the curve name, and the public
   * point uncompressed (0x04 || x || y), which is what WebCrypto's "raw" export gives. */
  function ecdsaP256PublicKeyLine(subtle, publicKey, comment) {
    return subtle.exportKey("raw", publicKey).then(function (raw) {
      var type = "ecdsa-sha2-nistp256";
      return opensshLine(type, [sshString(type), sshString("nistp256"), sshString(new Uint8Array(raw))], comment);
    });
  }

  function pkcs8Pem(bytes) {
    var base64 = base64FromBytes(bytes);
    var lines = [];
    for (var i = 0; i < base64.length; i += PEM_LINE_LENGTH) lines.push(base64.slice(i, i + PEM_LINE_LENGTH));
    return "-----BEGIN PRIVATE KEY-----\n" + lines.join("\n") + "\n-----END PRIVATE KEY-----\n";
  }

  // --- Saving --------------------------------------------------------------------------------

  /** Save the PKCS#8 bytes as a PEM file, then zero them. */
  function savePrivateKey(pkcs8, fileName) {
    var bytes = new Uint8Array(pkcs8);
    var blob = new Blob([pkcs8Pem(bytes)], { type: "application/x-pem-file" });
    bytes.fill(0);
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = fileName;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    // The click has handed the blob to the download; the URL is not needed after this task.
    setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 0);
  }

  function fileNameFor(name) {
    // Key pair names may contain '/', which no file name can.
    return name.replace(/\//g, "_") + ".pem";
  }

  // --- The page ------------------------------------------------------------------------------

  function format(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (placeholder, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : placeholder;
    });
  }

  function webCryptoAvailable() {
    return Boolean(window.crypto && window.crypto.subtle && typeof window.crypto.subtle.generateKey === "function");
  }

  function announce(container, name, detail) {
    container.dispatchEvent(new CustomEvent("keypair-generate:" + name, { bubbles: true, detail: detail || {} }));
  }

  /** The first field of the form, other than the one this fills, that the browser would refuse. */
  function firstInvalidField(form, except) {
    var elements = Array.prototype.slice.call(form.elements);
    for (var i = 0; i < elements.length; i++) {
      var element = elements[i];
      if (element !== except && element.willValidate && !element.checkValidity()) return element;
    }
    return null;
  }

  function attach(container) {
    var controls = container.querySelector("[data-keypair-generate-controls]");
    var select = container.querySelector("[data-keypair-generate-algorithm]");
    var button = container.querySelector("[data-keypair-generate-button]");
    var status = container.querySelector("[data-keypair-generate-status]");
    var unavailable = container.querySelector("[data-keypair-generate-unavailable]");
    var nameField = document.getElementById(container.getAttribute("data-name-field"));
    var publicKeyField = document.getElementById(container.getAttribute("data-public-key-field"));
    var form = publicKeyField && publicKeyField.form;

    if (!webCryptoAvailable() || !controls || !button || !nameField || !form) {
      if (controls) controls.hidden = true;
      if (unavailable) unavailable.hidden = false;
      announce(container, "unavailable");
      return;
    }

    function say(text) {
      if (status) status.textContent = text; // textContent: the file name is the user's input
    }

    function generate() {
      var name = nameField.value.trim();
      var invalid = name ? firstInvalidField(form, publicKeyField) : nameField;
      if (invalid) {
        say(
          gettext(
            "Fill in the form first: the private key is saved under the key pair name, and nothing is generated until the form can be sent."
          )
        );
        invalid.focus();
        if (invalid.reportValidity) invalid.reportValidity();
        return;
      }
      var algorithmName = select && ALGORITHMS[select.value] ? select.value : DEFAULT_ALGORITHM;
      var algorithm = ALGORITHMS[algorithmName];
      var fileName = fileNameFor(name);
      var subtle = window.crypto.subtle;

      button.disabled = true;
      say(gettext("Your browser is making the key pair. Nothing has been sent."));
      subtle
        .generateKey(algorithm.params, true, ["sign", "verify"])
        .then(function (keyPair) {
          // The public line first: if encoding it failed, no private key would have been saved.
          return algorithm.publicKeyLine(subtle, keyPair.publicKey, name).then(function (line) {
            return subtle.exportKey("pkcs8", keyPair.privateKey).then(function (pkcs8) {
              savePrivateKey(pkcs8, fileName);
              return line;
            });
          });
        })
        .then(
          function (line) {
            publicKeyField.value = line;
            publicKeyField.dispatchEvent(new Event("input", { bubbles: true }));
            publicKeyField.dispatchEvent(new Event("change", { bubbles: true }));
            say(
              format(
                gettext(
                  "The private key was saved as {file}: keep it safe, the portal never had it. Sending only the public key…"
                ),
                { file: fileName }
              )
            );
            announce(container, "saved", { fileName: fileName, algorithm: algorithmName, publicKey: line });
            button.disabled = false;
            if (form.requestSubmit) form.requestSubmit();
            else form.submit();
          },
          function () {
            // The error itself is not shown: it says nothing the person can act on.
            button.disabled = false;
            say(
              gettext(
                "Your browser could not make the key pair. Nothing was saved or sent. Try again, or create a key pair or import your own public key instead."
              )
            );
            announce(container, "failed");
          }
        );
    }

    if (unavailable) unavailable.hidden = true;
    controls.hidden = false;
    button.addEventListener("click", generate);
    announce(container, "ready");
  }

  function init() {
    document.querySelectorAll("[data-keypair-generate]").forEach(attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
