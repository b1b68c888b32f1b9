// Verifies SIGNED session tokens as a third-party backend would: jose's remote JWKS
// (fetched from the issuer's jwks_uri, refetched on an unknown kid), ES256 only, the
// issuer and audience checked. Reads a JSON config file, writes one result per token.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const jwks = createRemoteJWKSet(new URL(config.jwksUri));
const results = [];
for (const token of config.tokens) {
  // A Tessera token is `<tag>:<JWS>`: the JWS is what any JOSE library verifies.
  const compact = token.slice(token.indexOf(':') + 1);
  try {
    const { payload, protectedHeader } = await jwtVerify(compact, jwks, {
      algorithms: ['ES256'],
      issuer: config.issuer,
      audience: config.audience,
    });
    results.push({ ok: true, sid: payload.sid, kid: protectedHeader.kid });
  } catch (error) {
    results.push({ ok: false, error: error.code ?? String(error) });
  }
}
writeFileSync(config.output, JSON.stringify(results));
