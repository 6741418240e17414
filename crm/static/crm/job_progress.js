// A running job's page asks for its progress every second; when the job ends,
// the page is loaded again to show the result.
(function () {
    var running = document.getElementById("job-running");
    var texts = document.getElementById("job-texts");
    var fill = function (template, values) {
        return template.replace(/%\((\w+)\)s/g, function (_all, name) { return values[name]; });
    };
    var poll = function () {
        fetch(running.dataset.progressUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
            .then(function (response) { return response.json(); })
            .then(function (state) {
                if (state.finished) { window.location.reload(); return; }
                document.getElementById("job-status").textContent = state.status_label;
                document.getElementById("job-step").textContent = state.step_label;
                var bar = document.getElementById("job-progress");
                bar.max = state.total || 1;
                bar.value = state.done + state.failed;
                document.getElementById("job-counts").firstChild.textContent = fill(texts.dataset.counts, state) + " ";
                document.getElementById("job-left").textContent =
                    state.seconds_left === undefined ? "" : fill(texts.dataset.left, {seconds: state.seconds_left});
                window.setTimeout(poll, 1000);
            })
            .catch(function () { window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 1000);
})();
