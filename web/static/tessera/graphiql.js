// Tessera's GraphiQL page script (web/graphiql.py serves the page). It reads its settings
// from the page's JSON data block, so the page needs no inline script, and it never
// writes to the page's URL: what is typed into the editors stays out of browser history.
"use strict";

(function () {
  const settings = JSON.parse(
    document.getElementById("tessera-graphiql-settings").textContent,
  );

  // GraphiQL keeps the editors' text in localStorage, and headers only when asked to
  // (shouldPersistHeaders) - except in its history and favourites, which store the
  // headers each operation ran with, whatever that setting says: an admin key pasted
  // once would stay on disk. This storage writes them as the page's template instead,
  // and never writes the headers editor's own key.
  const OPERATION_LISTS = ["graphiql:queries", "graphiql:favorites", "graphiql:tabState"];

  function withoutHeaders(key, value) {
    if (!OPERATION_LISTS.includes(key)) {
      return value;
    }
    const stored = JSON.parse(value);
    for (const list of Object.values(stored)) {
      if (Array.isArray(list)) {
        for (const item of list) {
          if (item && item.headers) {
            item.headers = settings.headers;
          }
        }
      }
    }
    return JSON.stringify(stored);
  }

  const storage = {
    getItem: (key) => window.localStorage.getItem(key),
    setItem: (key, value) => {
      if (key === "graphiql:headers") {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, withoutHeaders(key, value));
      }
    },
    removeItem: (key) => window.localStorage.removeItem(key),
    get length() {
      return Object.keys(window.localStorage).filter((k) => k.startsWith("graphiql:")).length;
    },
    clear: () => {
      for (const key of Object.keys(window.localStorage)) {
        if (key.startsWith("graphiql:")) {
          window.localStorage.removeItem(key);
        }
      }
    },
  };

  // The page's own address without its query string or fragment: the endpoint is the
  // page's URL, wherever a proxy mounted it.
  const endpoint = window.location.origin + window.location.pathname;
  const fetcher = GraphiQL.createFetcher({ url: endpoint });

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      defaultQuery: settings.query,
      defaultHeaders: settings.headers,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // Headers hold API keys: kept in memory only, never in localStorage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    }),
  );
})();
