// Hands the session's token to the gateway's GraphiQL page by POST (never in a URL).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("handoff");
  if (form) form.submit();
});
