// Verifies a SIGNED session token as a third-party backend would, with jose: the
// issuer's remote JWKS, ES256 only, issuer and audience checked. The README shows this
// script word for word (tests/gateways/test_gateways.py compares them).
// README: jose-verify
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks.json`));
const jws = token.slice(token.indexOf(':') + 1); // a Tessera token is <tag>:<JWS>
const { payload } = await jwtVerify(jws, jwks, { algorithms: ['ES256'], issuer, audience });
console.log(payload.sub, payload.sid, payload.exp);
// END README
