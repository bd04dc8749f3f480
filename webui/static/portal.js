// The portal's own behaviour; everything works without it (progressive enhancement).
(function () {
  "use strict";

  // "/" focuses the global search box, unless the user is typing somewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    var box = document.getElementById("global-search");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  // Live preview of the branding form.
  function readable(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#000000" : "#ffffff";
  }

  function preview() {
    var form = document.getElementById("branding-form");
    var box = document.getElementById("branding-preview");
    if (!form || !box) return;
    function update() {
      var primary = form.elements.primary_color.value;
      box.style.setProperty("--p-primary", primary);
      box.style.setProperty("--p-on-primary", readable(primary));
      box.style.setProperty("--p-accent", form.elements.accent_color.value);
      var name = form.elements.product_name.value || "…";
      document.getElementById("preview-name").textContent = name;
      document.getElementById("preview-name-2").textContent = name;
      document.getElementById("preview-support").textContent = form.elements.support_email.value;
      var logo = document.getElementById("preview-logo");
      var url = form.elements.logo_url.value;
      logo.hidden = !/^https?:\/\//.test(url);
      if (!logo.hidden) logo.src = url;
    }
    form.addEventListener("input", update);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", preview);
  } else {
    preview();
  }
})();
