/**
 * keypair-form.js: live hints and a double-submit guard for the key pair create form.
 *
 * Progressive enhancement only. With JavaScript off the form still posts, the browser still
 * applies the inputs' `maxlength` and `pattern`, and the server's check is the one that counts.
 * The script is loaded with `defer` from a static file (no inline script: CSP forbids it) and
 * needs no framework.
 *
 * What it expects in the page (all rendered by keypairs.forms.KeyPairCreateForm):
 *
 *   <input data-rules="{...}" data-hint-id="id_name_hint" data-count-id="id_name_count" ...>
 *     Every input with a `data-rules` attribute gets live hints. `data-rules` is JSON from
 *     keypairs.validation.browser_rules(): the allowed character classes, the length limit and
 *     the server's message templates, so the hints say exactly what the server would say.
 *     KeyPairCreateForm puts it on `#id_name` and `#id_description`.
 *
 *   #id_name_hint, #id_description_hint   (the id is the input's `data-hint-id`)
 *     Where the first broken rule is shown, as text. Optional: when the template has no such
 *     element the script adds a <p class="field-hint"> after the input. The input's
 *     aria-describedby already names this id; the script makes the element aria-live="polite".
 *
 *   #id_name_count, #id_description_count   (the id is the input's `data-count-id`)
 *     The character counter, "12 / 65", counted in code points like the server. Optional: when
 *     missing the script adds a <span class="field-count"> after the input. It gets the class
 *     `is-over` past the limit.
 *
 *   The inputs' form: after its first submit its submit buttons are disabled and any further
 *   submit is cancelled, so a double click sends one request. The server's one-time form
 *   token is the real guard; this only spares the user a confusing second response. Buttons
 *   are enabled again when the page comes back from the back-forward cache.
 *
 * Behaviour worth knowing:
 *   - `maxlength` is removed once the script runs: browsers silently cut a long paste at
 *     maxlength, and this form never alters input behind the user's back. The counter and the
 *     "can be 65 characters at most" hint take its place; `pattern` still blocks the submit.
 *   - The first broken rule is also set as the input's custom validity, so the browser's own
 *     bubble on submit shows the server's sentence instead of "Please match the format".
 *   - After a failed submit the server's own list of messages for a field (#id_name_error,
 *     Django's id for it) is shown alone: the hint stays empty until the user edits the
 *     field, then the list is hidden (it described the old value) and the hint takes over.
 *   - Characters outside ASCII are named by code point only ("U+200B (an invisible
 *     character)"); the server's message on submit adds the Unicode name.
 *   - The message templates in `data-rules` come already translated (the page is rendered in
 *     the reader's language); the words this script adds itself (what a character is, "or")
 *     come from the JS catalogue that base.html loads from /jsi18n/ (gettext, pgettext), in
 *     the same words as keypairs/validation.py.
 */
(function () {
  "use strict";

  // The JS catalogue (/jsi18n/, loaded by base.html before this script) translates; should it
  // be missing, the English is shown rather than nothing.
  var gettext = window.gettext || function (text) { return text; };
  var pgettext = window.pgettext || function (context, text) { return text; };

  // What a character that cannot be shown raw is; the same wording as keypairs/validation.py.
  var KINDS = [
    [/\p{Cc}/u, gettext("a control character")],
    [/\p{Cf}/u, gettext("an invisible character")],
    [/\p{Zs}/u, gettext("a space character")],
    [/[\p{Zl}\p{Zp}]/u, gettext("a line break")],
    [/\p{M}/u, gettext("a combining mark")],
    [/\p{Cs}/u, gettext("a lone surrogate")],
    [/\p{Co}/u, gettext("a private-use character")],
    [/\p{Cn}/u, gettext("an unassigned code point")],
    [/[\p{Default_Ignorable_Code_Point}\u2800]/u, gettext("an invisible character")],
  ];
  // Shown raw, right-to-left letters would reorder the sentence around them.
  var RIGHT_TO_LEFT = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (placeholder, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : placeholder;
    });
  }

  /** "U+200B (an invisible character)": the character, then what it is in brackets. */
  function withDetail(character, detail) {
    return format(gettext("{character} ({detail})"), { character: character, detail: detail });
  }

  function describeCharacter(character) {
    if (character === " ") return gettext("' ' (space)");
    if (character === "'") return "\"'\"";
    var codePoint = character.codePointAt(0);
    if (codePoint >= 0x21 && codePoint <= 0x7e) return "'" + character + "'";
    var label = "U+" + codePoint.toString(16).toUpperCase().padStart(4, "0");
    for (var i = 0; i < KINDS.length; i++) {
      if (KINDS[i][0].test(character)) return withDetail(label, KINDS[i][1]);
    }
    if (RIGHT_TO_LEFT.test(character)) return label;
    return withDetail("'" + character + "'", label);
  }

  /** "a", "a or b", "a, b or c" (Chinese: "a、b 或 c"). */
  function joinWithOr(items) {
    if (items.length === 1) return items[0];
    var listed = items.slice(0, -1).join(pgettext("between the items of a list", ", "));
    return format(gettext("{listed} or {last}"), { listed: listed, last: items[items.length - 1] });
  }

  function forbiddenCharactersMessage(value, rules) {
    var forbidden = new RegExp("[^" + rules.characters + "]", "gu");
    var distinct = new Set(value.match(forbidden) || []);
    if (distinct.size === 0) return null;
    var described = Array.from(distinct).slice(0, rules.listedCharacters).map(describeCharacter);
    var rest = distinct.size - described.length;
    if (rest > 0) {
      described.push(format(rest === 1 ? rules.moreCharacters : rules.moreCharactersPlural, { count: rest }));
    }
    return format(rules.forbiddenCharacters, { characters: joinWithOr(described) });
  }

  /** Every rule the value breaks, in the server's order and words; [] when it passes. */
  function problems(value, rules) {
    var length = Array.from(value).length;
    if (rules.required !== undefined && length === 0) return [rules.required];
    var found = [];
    if (rules.firstCharacters !== undefined && length > 0) {
      var first = new RegExp("^[" + rules.firstCharacters + "]", "u");
      if (!first.test(value)) found.push(rules.mustStartWithLetter);
    }
    var forbidden = forbiddenCharactersMessage(value, rules);
    if (forbidden) found.push(forbidden);
    if (length > rules.maxLength) found.push(format(rules.tooLong, { limit: rules.maxLength, length: length }));
    return found;
  }

  function elementAfter(input, id, tagName, className) {
    var element = document.getElementById(id);
    if (element) return element;
    element = document.createElement(tagName);
    element.id = id;
    element.className = className;
    input.insertAdjacentElement("afterend", element);
    return element;
  }

  function attachHints(input) {
    var rules;
    try {
      rules = JSON.parse(input.getAttribute("data-rules"));
    } catch (error) {
      return; // No rules, no hints: the server still checks.
    }
    var hint = elementAfter(input, input.getAttribute("data-hint-id") || input.id + "_hint", "p", "field-hint");
    var counter = elementAfter(input, input.getAttribute("data-count-id") || input.id + "_count", "span", "field-count");
    hint.setAttribute("aria-live", "polite");
    input.removeAttribute("maxlength");
    // Say nothing about an empty field until the user has been in it; a value the server sent
    // back after a failed submit is checked at once.
    var touched = input.value !== "";
    // The server's messages for this field (after a failed submit) speak for the value as it
    // was sent: until the user edits it, a live hint would only say their first line again.
    // The first edit makes them stale, so they are hidden and the live hint takes over.
    var serverErrors = document.getElementById(input.id + "_error");

    function update() {
      var length = Array.from(input.value).length;
      var found = problems(input.value, rules);
      var speaking = touched && found.length > 0;
      counter.textContent = length + " / " + rules.maxLength;
      counter.classList.toggle("is-over", length > rules.maxLength);
      input.setCustomValidity(found.length ? found[0] : "");
      // textContent, never innerHTML: the message quotes what the user typed.
      hint.textContent = speaking && !serverErrors ? found[0] : "";
      if (speaking || serverErrors) input.setAttribute("aria-invalid", "true");
      else if (touched) input.removeAttribute("aria-invalid");
    }

    input.addEventListener("input", function () {
      touched = true;
      if (serverErrors) {
        serverErrors.hidden = true;
        serverErrors = null;
      }
      update();
    });
    input.addEventListener("blur", function () {
      touched = true;
      update();
    });
    update();
  }

  function submitButtons(form) {
    return form.querySelectorAll('button:not([type]), button[type="submit"], input[type="submit"]');
  }

  function guardDoubleSubmit(form) {
    var submitting = false;
    form.addEventListener("submit", function (event) {
      if (submitting) {
        event.preventDefault();
        return;
      }
      submitting = true;
      // Disabled only after the event: a button disabled now would drop its name=value from
      // the submission. A handler that cancelled this submit leaves the form usable.
      setTimeout(function () {
        if (event.defaultPrevented) {
          submitting = false;
          return;
        }
        submitButtons(form).forEach(function (button) {
          button.disabled = true;
        });
      }, 0);
    });
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      submitting = false;
      submitButtons(form).forEach(function (button) {
        button.disabled = false;
      });
    });
  }

  function init() {
    var forms = new Set();
    document.querySelectorAll("input[data-rules]").forEach(function (input) {
      attachHints(input);
      if (input.form) forms.add(input.form);
    });
    forms.forEach(guardDoubleSubmit);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
