// Apollo Client with its persisted queries link against a running Tessera, run by
// tests/api/test_clients.py: TESSERA_URL and TESSERA_KEY (an admin key) in the
// environment. Runs four operations of graphql/operations/ twice each, the way an app
// would, and prints every HTTP exchange as JSON on stdout; any operation that fails
// (Apollo Client throws on GraphQL errors) exits non-zero.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const url = process.env.TESSERA_URL;
const key = process.env.TESSERA_KEY;
const operations = new URL("../../graphql/operations/", import.meta.url);
const document = (name) => gql(readFileSync(new URL(`${name}.graphql`, operations), "utf8"));

const exchanges = [];
async function recordingFetch(input, init) {
  const body = JSON.parse(init.body);
  const response = await fetch(input, init);
  const answer = JSON.parse(await response.clone().text());
  exchanges.push({
    operationName: body.operationName,
    query: typeof body.query === "string",
    sha256Hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    codes: (answer.errors ?? []).map((e) => e.extensions?.code ?? null),
  });
  return response;
}

const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: createPersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
  }).concat(
    new HttpLink({ uri: url, fetch: recordingFetch, headers: { authorization: `Bearer ${key}` } }),
  ),
  defaultOptions: { query: { fetchPolicy: "no-cache" } },
});

const scope = { product: "apollo", env: "prd", tag: "web" };
const results = {};
for (const round of [1, 2]) {
  const created = await client.mutate({
    mutation: document("CreateSessionWith"),
    variables: { input: { ...scope, data: { userId: `user-${round}`, details: {} } } },
  });
  const tokens = created.data.createSession;
  if (tokens.__typename !== "SessionTokens") throw new Error(JSON.stringify(tokens));
  const verified = await client.query({
    query: document("VerifySession"),
    variables: { input: { ...scope, token: tokens.token } },
  });
  const refreshed = await client.mutate({
    mutation: document("RefreshSession"),
    variables: { input: { ...scope, refreshToken: tokens.refreshToken } },
  });
  const listed = await client.query({
    query: document("ActiveSessions"),
    variables: { ...scope, identifier: `user-${round}` },
  });
  results[round] = {
    created: tokens.__typename,
    valid: verified.data.verifySession.valid,
    refreshed: refreshed.data.refreshSession.__typename,
    listed: listed.data.activeSessions.totalCount,
  };
}

console.log(JSON.stringify({ exchanges, results }));
