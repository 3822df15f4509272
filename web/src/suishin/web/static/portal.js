// Progressive enhancement: the inbox receives new notices live (Server-Sent Events relayed
// from the gateway's notificationReceived subscription). Without JS the page still works.
(function () {
  "use strict";
  var state = document.getElementById("live-state");
  var list = document.getElementById("notices");
  var template = document.getElementById("notice-template");
  if (!state || !list || !template || !window.EventSource) return;
  var csrfInput = document.querySelector("input[name=csrf]");
  var ja = document.documentElement.lang !== "en";
  var source = new EventSource(state.getAttribute("data-live-url"));
  source.addEventListener("open", function () {
    state.textContent = ja ? "新着を自動で表示しています。" : "New notices appear here live.";
    state.setAttribute("data-connected", "1");
  });
  source.addEventListener("notification", function (event) {
    var n = JSON.parse(event.data);
    if (document.getElementById("n-" + n.id)) return;
    var item = template.content.firstElementChild.cloneNode(true);
    item.id = "n-" + n.id;
    item.querySelector(".n-title").textContent = n.title;
    item.querySelector(".n-body").textContent = n.body || "";
    var link = item.querySelector(".n-link a");
    var labels = ja
      ? { Indicator: "指標を開く", Measure: "施策を開く", Plan: "計画を開く" }
      : { Indicator: "Open the indicator", Measure: "Open the measure", Plan: "Open the plan" };
    if (n.href) { link.href = n.href; link.textContent = labels[n.link.split(":")[0]] || n.href; }
    else { link.parentNode.remove(); }
    if (csrfInput) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = "/inbox/" + encodeURIComponent(n.id) + "/acknowledge";
      form.className = "ack";
      var csrf = document.createElement("input");
      csrf.type = "hidden"; csrf.name = "csrf"; csrf.value = csrfInput.value;
      var label = document.createElement("label");
      label.htmlFor = "c-" + n.id; label.textContent = ja ? "コメント" : "Comment";
      var comment = document.createElement("input");
      comment.id = "c-" + n.id; comment.name = "comment";
      var button = document.createElement("button");
      button.type = "submit"; button.textContent = ja ? "確認済みにする" : "Acknowledge";
      form.append(csrf, label, comment, button);
      item.appendChild(form);
    }
    var empty = list.querySelector(".empty");
    if (empty) empty.remove();
    list.insertBefore(item, list.firstChild);
    var unread = document.getElementById("unread");
    if (unread) unread.textContent = String((parseInt(unread.textContent, 10) || 0) + 1);
  });
  source.addEventListener("error", function () {
    state.textContent = ja ? "再接続しています…" : "Reconnecting…";
  });
})();
