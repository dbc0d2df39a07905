/**
 * Registry authentication as distribution's client does it (registry/client/auth): read the
 * `WWW-Authenticate` challenges of a 401, then for `Bearer` fetch a token from the realm
 * (`GET realm?account=&scope=&service=`, HTTP Basic when credentials are known) and for `Basic`
 * send the credentials. Credentials never travel over plain HTTP except to loopback or to hosts the
 * user explicitly allowed.
 */
import { RegistryError, printable } from './errors';
import { RegistryCredentials } from './credentials';
import { HttpResponse, Transport, header, headerValues, httpRequest } from './http';
import { REGISTRY_LIMITS } from './limits';

export interface Challenge {
  /** lower-cased auth scheme: `bearer`, `basic`, ... */
  scheme: string;
  /** lower-cased parameter names */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parse `WWW-Authenticate` values (RFC 7235): one or more challenges, each a scheme followed by
 * comma-separated `name=value` or `name="quoted \" value"` parameters.
 */
export function parseChallenges(values: string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const s of values) {
    let i = 0;
    let current: Challenge | null = null;
    const skipSpace = () => {
      while (s[i] === ' ' || s[i] === '\t') i++;
    };
    const readToken = (): string => {
      const start = i;
      while (i < s.length && TOKEN_CHAR.test(s[i] ?? '')) i++;
      return s.slice(start, i);
    };
    for (;;) {
      while (s[i] === ' ' || s[i] === '\t' || s[i] === ',') i++;
      if (i >= s.length) break;
      const word = readToken();
      // not a token: the rest of this header is malformed; keep what parsed
      if (word === '') break;
      skipSpace();
      if (s[i] === '=') {
        // name=value of the current challenge
        if (current === null) break;
        i++;
        skipSpace();
        let v = '';
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === '\\' && i + 1 < s.length) i++;
            v += s[i];
            i++;
          }
          i++; // the closing quote
        } else {
          // strictly a token; registries in the wild also send bare URLs, so read up to , or space
          const start = i;
          while (i < s.length && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
          v = s.slice(start, i);
        }
        const name = word.toLowerCase();
        // the first value of a parameter counts; a key named __proto__ stays plain data
        if (!Object.prototype.hasOwnProperty.call(current.params, name)) {
          Object.defineProperty(current.params, name, { value: v, enumerable: true, writable: true });
        }
        continue;
      }
      // a new challenge
      if (out.length >= REGISTRY_LIMITS.maxChallenges) return out;
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
      // a token68 credential form (`Negotiate abc==`), which no registry scheme uses: skip it
      const t68 = /^[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)/.exec(s.slice(i));
      if (t68) i += t68[0].length;
    }
  }
  return out;
}

/** A token server's answer: `access_token` wins over `token` (distribution's client). */
function tokenFromResponse(body: Buffer, realm: URL): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('PROTOCOL', `token server ${realm.host} answered with something other than JSON`);
  }
  const o = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const token = typeof o.access_token === 'string' && o.access_token !== '' ? o.access_token : o.token;
  if (typeof token !== 'string' || token === '') throw new RegistryError('PROTOCOL', `token server ${realm.host} answered without a token`);
  if (token.length > REGISTRY_LIMITS.maxTokenBytes) throw new RegistryError('TOO_LARGE', `token from ${realm.host} is over ${REGISTRY_LIMITS.maxTokenBytes} bytes`);
  // RFC 6750 b64token: anything else could split the Authorization header
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) throw new RegistryError('PROTOCOL', `token from ${realm.host} holds characters a bearer token may not`);
  return token;
}

/** The registry's `{"errors":[{code,message}]}` (or a token server's `details`), for one line. */
export function describeErrorBody(res: HttpResponse): string {
  const text = res.body.toString('utf8');
  try {
    const o = JSON.parse(text) as unknown;
    if (typeof o === 'object' && o !== null) {
      const errors = (o as { errors?: unknown }).errors;
      if (Array.isArray(errors) && errors.length > 0) {
        return errors
          .slice(0, 3)
          .map((e: unknown) => {
            const r = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
            return `${String(r.code ?? '')}${r.message !== undefined ? `: ${String(r.message)}` : ''}`;
          })
          .map((s) => printable(s, 160))
          .join('; ');
      }
      const details = (o as { details?: unknown }).details;
      if (typeof details === 'string') return printable(details, 160);
    }
  } catch {
    // not JSON: quote nothing rather than arbitrary bytes
  }
  return '';
}

export interface PlainHttpPolicy {
  /** may this host[:port] be spoken to over plain http? */
  allowsPlainHttp(host: string): boolean;
}

/**
 * Fetch a bearer token for `scope` from a challenge's realm. The realm must be https unless it is
 * a host that may be spoken to over plain http.
 */
export async function fetchBearerToken(
  challenge: Challenge,
  scope: string,
  credentials: RegistryCredentials | undefined,
  transport: Transport,
  policy: PlainHttpPolicy,
): Promise<string> {
  const realmText = challenge.params.realm;
  if (realmText === undefined || realmText === '') throw new RegistryError('PROTOCOL', 'Bearer challenge without a realm');
  let realm: URL;
  try {
    realm = new URL(realmText);
  } catch {
    throw new RegistryError('PROTOCOL', `Bearer realm ${JSON.stringify(printable(realmText))} is not a URL`);
  }
  if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && policy.allowsPlainHttp(realm.host))) {
    throw new RegistryError('INSECURE', `token realm ${printable(realm.href)} is not https; refusing to ask it for a token`);
  }
  // parameters sorted by name, as Go's url.Values.Encode writes them
  const params = new URLSearchParams(realm.search);
  if (credentials) params.set('account', credentials.username);
  params.set('scope', scope);
  if (challenge.params.service !== undefined) params.set('service', challenge.params.service);
  params.sort();
  realm.search = params.toString();
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (credentials) headers.Authorization = basicAuthorization(credentials);
  const res = await httpRequest(
    { method: 'GET', url: realm, headers, maxBodyBytes: REGISTRY_LIMITS.maxTokenResponseBytes, overflow: 'fail' },
    transport,
  );
  if (res.status === 401 || res.status === 403) {
    const why = describeErrorBody(res);
    throw new RegistryError(
      'UNAUTHORIZED',
      credentials
        ? `token server ${realm.host} refused the credentials of ${JSON.stringify(credentials.username)} from ${credentials.source}${why ? ` (${why})` : ''}`
        : `token server ${realm.host} requires credentials${why ? ` (${why})` : ''}`,
    );
  }
  if (res.status !== 200) {
    const why = describeErrorBody(res);
    throw new RegistryError('PROTOCOL', `token server ${realm.host} answered ${res.status}${why ? ` (${why})` : ''}`);
  }
  const type = header(res, 'content-type');
  if (type !== undefined && !/json/i.test(type)) throw new RegistryError('PROTOCOL', `token server ${realm.host} answered ${printable(type)}, not JSON`);
  return tokenFromResponse(res.body, realm);
}

export function basicAuthorization(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/** The challenges of a 401 response. */
export function challengesOf(res: HttpResponse): Challenge[] {
  return parseChallenges(headerValues(res, 'www-authenticate'));
}
