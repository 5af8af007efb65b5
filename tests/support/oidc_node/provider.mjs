// A real OpenID provider (oidc-provider) on a loopback port for the tests in tests/auth.
// Arguments are one JSON object: {port, clientId, clientSecret, redirectUris, idTokenTtl}.
// Its development interactions take any login name with any password; the account's
// claims are derived from the login name (sub is the name itself, preferred_username, email).
// Prints one line "ready <issuer>" when it listens; exits when stdin closes.
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${options.port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: options.clientId,
    client_secret: options.clientSecret,
    redirect_uris: options.redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'] },
  pkce: { required: () => true },
  // Profile and email claims in the ID token itself (the relying party reads no userinfo).
  conformIdTokenClaims: false,
  ttl: { IdToken: options.idTokenTtl ?? 3600 },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.test`, email_verified: true };
      },
    };
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));

const server = provider.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
