// Select2 (FAB's select boxes, the search filters) in the reader's language. Set before the page's
// ready handlers, where FAB creates its select boxes.
(function () {
  var words = JSON.parse(document.currentScript.getAttribute("data-language"));
  var language = {};
  Object.keys(words).forEach(function (key) {
    language[key] = function () { return words[key]; };
  });
  $.fn.select2.defaults.set("language", language);
})();
