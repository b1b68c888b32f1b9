// Runs graphql-http's serverAudits (the GraphQL-over-HTTP specification's own audit
// suite) against the URL in AUDIT_URL and prints one JSON array of results on stdout.
// With AUDIT_KEY set, every request carries it as its bearer credential: the audits send
// none, and in production only an admin may introspect (`__type`), which some use.
// tests/http/test_audit.py starts Tessera, runs this and judges the results.
import { serverAudits } from 'graphql-http';

const url = process.env.AUDIT_URL;
const key = process.env.AUDIT_KEY;
if (!url) {
  console.error('audit.mjs: set AUDIT_URL');
  process.exit(2);
}

const fetchFn = key
  ? (input, init = {}) =>
      fetch(input, {
        ...init,
        headers: { ...(init.headers ?? {}), authorization: `Bearer ${key}` },
      })
  : fetch;

async function describe(response) {
  if (!response) return null;
  let body = null;
  try {
    body = await response.text();
  } catch {
    body = '<body already read>';
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: body.slice(0, 500),
  };
}

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.reason ?? null,
    response: await describe(result.response),
  });
}
process.stdout.write(JSON.stringify(results));
