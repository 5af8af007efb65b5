// A real OpenID Provider for the sign-in tests: node_modules/oidc-provider (a certified
// implementation) on a loopback port, with one registered client and dev interactions (a login
// form taking any account name, then a consent form). Environment: PORT, REDIRECT_URIS (JSON
// list), CLIENT_SECRET; CLOCK_SKEW_SECONDS shifts the clock the ID tokens are issued by (and only
// that: the session cookies stay valid), for an ID token that arrives expired.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const skew = Number(process.env.CLOCK_SKEW_SECONDS || 0);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'synctv',
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: JSON.parse(process.env.REDIRECT_URIS),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  features: { devInteractions: { enabled: true } },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.test`, email_verified: true };
      },
    };
  },
  cookies: { keys: ['synctv-test-cookie-key'] },
});
if (skew) {
  const issue = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = async function skewedIssue(...args) {
    const realNow = Date.now;
    Date.now = () => realNow() + skew * 1000;
    try {
      return await issue.apply(this, args);
    } finally {
      Date.now = realNow;
    }
  };
}
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
