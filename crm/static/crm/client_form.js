// A client card's form shows the fields of its kind (all of them until a kind is chosen): a company's
// name, or a person's names and PESEL.
// A field of the other kind stays visible while it holds a value or an error, so nothing is hidden
// that would be saved or refused.
(function () {
  var kind = document.querySelector("form select#kind");
  if (!kind || !document.getElementById("company_name")) {
    return;
  }
  var only = {company: ["company_name"], person: ["first_name", "last_name", "pesel"]};

  function row(id) {
    var field = document.getElementById(id);
    return field ? field.closest("tr") : null;
  }

  function follow() {
    Object.keys(only).forEach(function (owner) {
      only[owner].forEach(function (id) {
        var shown = row(id);
        if (!shown) {
          return;
        }
        var field = document.getElementById(id);
        var keep = field.value.trim() !== "" || shown.querySelector(".alert-danger") !== null;
        shown.hidden = kind.value !== "" && kind.value !== owner && !keep;
      });
    });
  }

  $(kind).on("change", follow);  // Select2 reports changes through jQuery
  follow();
})();
