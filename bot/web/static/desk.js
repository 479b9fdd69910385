// The office's desk. No inline script anywhere (the Content-Security-Policy forbids it): this file
// signs in from inside Telegram and takes over Telegram's theme colours.
(function () {
  "use strict";
  var hash = new URLSearchParams(window.location.hash.slice(1));
  var initData = hash.get("tgWebAppData");
  // Telegram passes its theme in the first page's fragment; later pages of the same visit reuse it.
  var theme = hash.get("tgWebAppThemeParams") || sessionStorage.getItem("deskTheme");
  if (theme) {
    try {
      var params = JSON.parse(theme);
      var names = { bg_color: "--tg-bg", text_color: "--tg-text", hint_color: "--tg-hint", link_color: "--tg-link",
                    button_color: "--tg-button", button_text_color: "--tg-button-text",
                    secondary_bg_color: "--tg-secondary-bg" };
      Object.keys(names).forEach(function (key) {
        if (/^#[0-9a-fA-F]{3,8}$/.test(params[key] || "")) {
          document.documentElement.style.setProperty(names[key], params[key]);
        }
      });
      sessionStorage.setItem("deskTheme", theme);
    } catch (e) { /* a malformed theme leaves the default colours */ }
  }
  var box = document.getElementById("signin");
  if (!box || !initData) { return; }
  function show(which) {
    box.querySelectorAll("[data-when]").forEach(function (el) { el.hidden = el.dataset.when !== which; });
  }
  show("telegram");
  var prefix = document.body.dataset.prefix || "";
  fetch(prefix + "/tg", { method: "POST", credentials: "same-origin",
                          headers: { "Content-Type": "application/x-www-form-urlencoded" },
                          body: new URLSearchParams({ init_data: initData }) })
    // Read the answer to its end before leaving the page: an unread body is aborted by the navigation.
    .then(function (r) { return r.text().then(function () { return r.ok; }); })
    .then(function (ok) { if (ok) { window.location.replace(prefix + "/"); } else { show("refused"); } })
    .catch(function () { show("refused"); });
})();
