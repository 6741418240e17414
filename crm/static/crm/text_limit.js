// A limited text field keeps what is pasted into it and counts its characters.
//
// The browser cuts a paste longer than "maxlength" without a word; instead the
// limit moves to data-max-chars, a counter under the field shows it, and the
// server refuses an over-long text with a message (nothing is lost on the way).
(function () {
  var script = document.currentScript;
  var countText = script.getAttribute("data-count");
  var overText = script.getAttribute("data-over");
  var grouped = function (n) { return n.toLocaleString(document.documentElement.lang || "pl"); };

  function attach(field) {
    var max = parseInt(field.getAttribute("maxlength"), 10);
    if (!(max > 0)) { return; }
    field.removeAttribute("maxlength");
    field.setAttribute("data-max-chars", String(max));
    var counter = document.createElement("span");
    counter.className = "text-limit-counter";
    counter.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", counter);
    var isArea = field.tagName === "TEXTAREA";
    function update() {
      // as the server counts: code points, not UTF-16 units
      var count = Array.from(field.value).length;
      var over = count - max;
      counter.classList.toggle("text-limit-over", over > 0);
      if (over > 0) {
        counter.textContent = overText.replace("{over}", grouped(over));
      } else {
        counter.textContent = countText.replace("{count}", grouped(count)).replace("{max}", grouped(max));
      }
      // a short field shows its counter only near the limit
      counter.hidden = !isArea && count < max * 0.8;
      field.setCustomValidity(over > 0 ? counter.textContent : "");
    }
    field.addEventListener("input", update);
    update();
  }

  document.querySelectorAll("form textarea[maxlength], form input[maxlength]:not([type=password])").forEach(attach);
})();
