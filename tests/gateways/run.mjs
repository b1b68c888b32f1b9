// Driven by tests/gateways/test_gateways.py:
//
//   node tests/gateways/run.mjs <config.json>
//
// config: {gateway, tesseraUrl, sdlPath, adminKey, accounts, cases: [{headers, query,
// variables}], output}. Starts the accounts subgraph and the gateway, sends each case to
// the gateway over HTTP, and writes [{status, body}] (or, for gateway "compose", the
// composition's {errors, hints}) as JSON to `output`. Logs go to stderr.
import { readFileSync, writeFileSync } from 'node:fs';

import { startAccounts } from './accounts.mjs';
import { GATEWAYS, supergraph } from './gateways.mjs';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = await startAccounts(config.accounts ?? []);
const stops = [accounts.stop];
try {
  if (config.gateway === 'compose') {
    const { errors, hints } = supergraph({ ...config, accountsUrl: accounts.url });
    const describe = (item) => ({ code: item.code ?? item.definition?.code, message: item.message });
    writeFileSync(
      config.output,
      JSON.stringify({ errors: errors.map(describe), hints: hints.map(describe) }),
    );
  } else {
    const gateway = await GATEWAYS[config.gateway]({ ...config, accountsUrl: accounts.url });
    stops.unshift(gateway.stop);
    const results = [];
    for (const { headers, query, variables } of config.cases) {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = { unparsed: text };
      }
      results.push({ status: response.status, body });
    }
    writeFileSync(config.output, JSON.stringify(results));
  }
} finally {
  for (const stop of stops) await stop();
}
// Gateways may keep timers (polling, keep-alive) after they are stopped.
process.exit(0);
