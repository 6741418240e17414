// Date pickers in the reader's language, weeks starting as the language starts them (Monday in Polish).
// Kartoteka's date fields (.crm-date) hold the date as the language writes it; FAB's own pickers (the
// search form) keep ISO, which FAB's filters read. A typed or pasted date is left as typed: the server
// reads both forms and says so when it cannot.
(function () {
  var script = document.currentScript;
  var language = JSON.parse(script.getAttribute("data-language"));
  $.fn.datepicker.dates.crm = language;
  var common = {language: "crm", weekStart: language.weekStart, forceParse: false, autoclose: true,
                todayHighlight: true, todayBtn: "linked", clearBtn: true};
  $(function () {
    $(".crm-date").datepicker($.extend({}, common, {format: language.format}));
    $(".appbuilder_date, .appbuilder_datetime").datepicker("destroy")
      .datepicker($.extend({}, common, {format: "yyyy-mm-dd"}));
  });
})();
