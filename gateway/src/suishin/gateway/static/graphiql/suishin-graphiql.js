// Starts GraphiQL from the assets served by the gateway itself (no CDN), with a Suishin example
// query and, when the portal handed a token over by POST, the Authorization header filled in.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var url = new URL(config.endpoint, window.location.href);
  var wsUrl = new URL(url.href);
  wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: url.href, subscriptionUrl: wsUrl.href });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.query,
      defaultHeaders: config.headers,
      headers: config.headers || undefined,
      defaultEditorToolsVisibility: config.headers ? "headers" : true,
      isHeadersEditorEnabled: true,
      // A handed-over token stays in this page only: never persisted in localStorage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    })
  );
})();
