// The second subgraph of the gateway tests: accounts, each joined to its person's
// sessions in Tessera through Tessera's `SessionUser` entity, which this subgraph only
// references (`resolvable: false`: it holds the key, Tessera resolves the rest).
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

// README: accounts-subgraph
export const accountsTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Account @key(fields: "id") {
    id: ID!
    name: String!
    "The person this account is, in Tessera: their sessions are \`user { sessions }\`."
    user: SessionUser!
  }

  type SessionUser @key(fields: "product env identifier", resolvable: false) {
    product: String!
    env: String!
    identifier: String!
  }

  type Query {
    account(id: ID!): Account
  }
`);
// END README

/** Serve `accounts` ({id, name, user: {product, env, tag, identifier}}) on a free
 * loopback port; returns its URL and a function that stops it. */
export async function startAccounts(accounts) {
  const byId = new Map(accounts.map((account) => [account.id, account]));
  const resolvers = {
    Query: { account: (_, { id }) => byId.get(id) ?? null },
    Account: { __resolveReference: ({ id }) => byId.get(id) ?? null },
  };
  const server = new ApolloServer({
    schema: buildSubgraphSchema([{ typeDefs: accountsTypeDefs, resolvers }]),
  });
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { url, stop: () => server.stop() };
}
