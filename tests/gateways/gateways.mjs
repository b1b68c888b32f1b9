// The gateways the tests run Tessera behind, each configured as the README's "Gateways"
// guide shows: the README's snippets are the regions between `// README: <name>` and
// `// END README` here, word for word (tests/gateways/test_gateways.py checks it).
//
// Each function takes {tesseraUrl, accountsUrl, sdlPath, adminKey}, starts its gateway on
// a free loopback port and returns {url, stop}.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

import { composeServices } from '@apollo/composition';
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { buildHTTPExecutor } from '@graphql-tools/executor-http';
import { stitchSchemas } from '@graphql-tools/stitch';
import { schemaFromExecutor } from '@graphql-tools/wrap';
import { buildSchema, parse } from 'graphql';
import { createYoga } from 'graphql-yoga';

import { accountsTypeDefs } from './accounts.mjs';

const LISTEN = { host: '127.0.0.1', port: 0 };

// README: forwarded-for
/** `X-Forwarded-For` for Tessera: the addresses the client's own proxies reported, then
 * the address the gateway sees the client at (IPv4-mapped IPv6 as plain IPv4). */
export function forwardedFor(forwarded, peer) {
  return [forwarded, peer?.replace(/^::ffff:/, '')].filter(Boolean).join(', ');
}
// END README

/** Listen on a free loopback port; {url, stop}. */
function serve(handler, path) {
  const server = createServer(handler);
  return new Promise((resolve) => {
    server.listen(LISTEN.port, LISTEN.host, () => {
      const { port } = server.address();
      const stop = () => new Promise((done) => server.close(done).closeAllConnections());
      resolve({ url: `http://127.0.0.1:${port}${path}`, stop });
    });
  });
}

/** The supergraph of Tessera's committed SDL and the accounts subgraph. */
export function supergraph({ tesseraUrl, accountsUrl, sdlPath }) {
  // README: compose
  const { supergraphSdl, errors, hints } = composeServices([
    { name: 'tessera', url: tesseraUrl, typeDefs: parse(readFileSync(sdlPath, 'utf8')) },
    { name: 'accounts', url: accountsUrl, typeDefs: accountsTypeDefs },
  ]);
  // END README
  return { supergraphSdl, errors: errors ?? [], hints: hints ?? [] };
}

// README: apollo-datasource
/** Tessera gets the caller's own credential and address: it decides what the caller may do. */
class TesseraDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set('authorization', context.authorization);
    if (context.forwardedFor) request.http.headers.set('x-forwarded-for', context.forwardedFor);
  }
}

/** Each request's context (Apollo Server's `context` option): what TesseraDataSource sends. */
const context = async ({ req }) => ({
  authorization: req.headers.authorization,
  forwardedFor: forwardedFor(req.headers['x-forwarded-for'], req.socket.remoteAddress),
});
// END README

async function serveApollo(gateway) {
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, { listen: LISTEN, context });
  return { url, stop: () => server.stop() };
}

export async function apolloGateway({ tesseraUrl, accountsUrl, adminKey }) {
  // README: apollo-gateway
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [
        { name: 'tessera', url: tesseraUrl },
        { name: 'accounts', url: accountsUrl },
      ],
      // `_service { sdl }` is introspection: in production only an admin key may ask.
      introspectionHeaders: (subgraph) =>
        subgraph.name === 'tessera' ? { authorization: `Bearer ${adminKey}` } : {},
    }),
    // Tessera's credentials go to Tessera only.
    buildService: ({ name, url }) =>
      name === 'tessera' ? new TesseraDataSource({ url }) : new RemoteGraphQLDataSource({ url }),
  });
  // END README
  return serveApollo(gateway);
}

/** Apollo Gateway from a supergraph composed from the committed SDL: no introspection. */
export async function apolloSupergraph(config) {
  const { supergraphSdl } = supergraph(config);
  // README: apollo-supergraph
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ name, url }) =>
      name === 'tessera' ? new TesseraDataSource({ url }) : new RemoteGraphQLDataSource({ url }),
  });
  // END README
  return serveApollo(gateway);
}

export async function hiveFederation(config) {
  const { supergraphSdl } = supergraph(config);
  // README: hive-federation
  const gateway = createGatewayRuntime({
    supergraph: supergraphSdl, // or the path of a file holding it
    propagateHeaders: {
      // Tessera's credentials go to Tessera only.
      fromClientToSubgraphs: ({ request, context, subgraphName }) =>
        subgraphName === 'tessera'
          ? {
              authorization: request.headers.get('authorization'),
              'x-forwarded-for': forwardedFor(
                request.headers.get('x-forwarded-for'),
                context.req?.socket.remoteAddress,
              ),
            }
          : {},
    },
  });
  // END README
  return serve(gateway, '/graphql');
}

export async function hiveProxy({ tesseraUrl, sdlPath }) {
  // README: hive-proxy
  const gateway = createGatewayRuntime({
    proxy: { endpoint: tesseraUrl },
    // Introspection is admin-only in production, so give the gateway the schema rather
    // than an admin key: `proxy.headers` would go with every request it forwards.
    schema: sdlPath, // graphql/schema.graphql
    // Nothing of the client's request is forwarded unless listed here.
    propagateHeaders: {
      fromClientToSubgraphs: ({ request, context }) => ({
        authorization: request.headers.get('authorization'),
        'x-forwarded-for': forwardedFor(
          request.headers.get('x-forwarded-for'),
          context.req?.socket.remoteAddress,
        ),
      }),
    },
  });
  // END README
  return serve(gateway, '/graphql');
}

/** Tessera's subschema for stitching, its schema introspected with the admin key
 * (`fromSdl: false`) or read from the committed SDL. */
async function tesseraSubschema({ tesseraUrl, sdlPath, adminKey }, fromSdl) {
  let schema;
  if (fromSdl) {
    // README: stitching-sdl
    // The SDL applies federation's directives without defining them.
    schema = buildSchema(readFileSync(sdlPath, 'utf8'), { assumeValidSDL: true });
    // END README
  } else {
    // README: stitching-introspection
    schema = await schemaFromExecutor(
      buildHTTPExecutor({ endpoint: tesseraUrl, headers: { authorization: `Bearer ${adminKey}` } }),
    );
    // END README
  }
  // README: stitching
  const tessera = {
    schema,
    executor: buildHTTPExecutor({
      endpoint: tesseraUrl,
      // The caller's own credential and address, from the gateway's context below.
      headers: (request) => {
        const { authorization, forwardedFor } = request?.context ?? {};
        return {
          ...(authorization && { authorization }),
          ...(forwardedFor && { 'x-forwarded-for': forwardedFor }),
        };
      },
    }),
    merge: {
      // Another subschema's `SessionUser { product env identifier }` gets its
      // `sessions` from Tessera's `_entities`, in one request per batch.
      SessionUser: {
        selectionSet: '{ product env identifier }',
        fieldName: '_entities',
        key: ({ product, env, identifier }) => ({
          __typename: 'SessionUser',
          product,
          env,
          identifier,
        }),
        argsFromKeys: (representations) => ({ representations }),
      },
    },
  };
  // END README
  return tessera;
}

async function stitched(config, fromSdl) {
  const tessera = await tesseraSubschema(config, fromSdl);
  const accountsExecutor = buildHTTPExecutor({ endpoint: config.accountsUrl });
  const accounts = { schema: await schemaFromExecutor(accountsExecutor), executor: accountsExecutor };
  // README: stitching-gateway
  const yoga = createYoga({
    schema: stitchSchemas({ subschemas: [tessera, accounts] }),
    context: ({ request, req }) => ({
      authorization: request.headers.get('authorization') ?? undefined,
      forwardedFor: forwardedFor(request.headers.get('x-forwarded-for'), req?.socket.remoteAddress),
    }),
  });
  // END README
  return serve(yoga, '/graphql');
}

export const stitchFromIntrospection = (config) => stitched(config, false);
export const stitchFromSdl = (config) => stitched(config, true);

export const GATEWAYS = {
  'apollo-gateway': apolloGateway,
  'apollo-supergraph': apolloSupergraph,
  'hive-federation': hiveFederation,
  'hive-proxy': hiveProxy,
  'stitching-introspection': stitchFromIntrospection,
  'stitching-sdl': stitchFromSdl,
};
