// The tab and the folded section a person last opened, remembered per page.
// FAB's ab_keep_tab.js remembers one tab for every page, so "Edit" and "Show"
// of another card opened on whatever tab was used last (the form hidden).
$(function () {
    var tabKey = "crm.lastTab:" + window.location.pathname;
    var sectionKey = "crm.lastSection:" + window.location.pathname;
    $('a[data-toggle="tab"]').on("shown.bs.tab", function () {
        sessionStorage.setItem(tabKey, $(this).attr("href"));
    });
    var lastTab = sessionStorage.getItem(tabKey);
    var tab = lastTab ? $('a[data-toggle="tab"][href="' + lastTab + '"]') : $();
    (tab.length ? tab : $('a[data-toggle="tab"]').first()).tab("show");

    $(".panel-collapse").on("shown.bs.collapse", function () {
        sessionStorage.setItem(sectionKey, $(this).attr("id"));
    }).on("hidden.bs.collapse", function () {
        sessionStorage.removeItem(sectionKey);
    });
    var lastSection = sessionStorage.getItem(sectionKey);
    if (lastSection && !$("#" + lastSection).hasClass("in")) {
        $("#" + lastSection).collapse("show");
    }
});
