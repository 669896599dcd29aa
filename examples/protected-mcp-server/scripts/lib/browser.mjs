// The scripted browser the TypeScript real-client checks share: a cookie jar per host (as
// browsers keep cookies per host, not per port), redirects followed by hand, the sign-in and
// approval forms of auth-server filled in. No npm dependencies (Node.js 20's fetch).
//
// `fail` and `check` print `FAIL: …` and exit 1; every URL the browser opens must be loopback.

export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

export function check(condition, message) {
  if (!condition) fail(message);
}

/** Every URL this script follows must stay on loopback. */
export function assertLoopback(url) {
  const host = new URL(url).hostname;
  check(/^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]', `not a loopback URL: ${url}`);
}

// ---------------------------------------------------------------------------------------------
// The scripted browser: a cookie jar per host (as browsers keep cookies per host, not per port),
// redirects followed by hand, sign-in and approval forms filled in.

function unescapeHtml(s) {
  return s
    .replace(/&#x2f;/gi, '/')
    .replace(/&#x27;/g, "'")
    .replace(/&#x3d;/gi, '=')
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`));
  return m ? unescapeHtml(m[1]) : undefined;
}

/** The first form's action and its hidden fields. */
function parseForm(html) {
  const start = html.indexOf('<form');
  check(start >= 0, 'a form on the page');
  const tagEnd = html.indexOf('>', start);
  const action = attr(html.slice(start, tagEnd), 'action');
  check(action !== undefined, 'form action');
  // Only this form's inputs: a page may have more forms (the sign-out form in the footer).
  const end = html.indexOf('</form>', tagEnd);
  const body = html.slice(tagEnd, end < 0 ? undefined : end);
  const fields = [];
  for (const m of body.matchAll(/<input[^>]*>/g)) {
    if (attr(m[0], 'type') === 'hidden') fields.push([attr(m[0], 'name'), attr(m[0], 'value') ?? '']);
  }
  return { action, fields };
}

export class Browser {
  constructor() {
    /** host -> Map(name -> value) */
    this.jar = new Map();
  }

  cookieHeader(url) {
    const cookies = this.jar.get(new URL(url).hostname);
    if (!cookies || cookies.size === 0) return undefined;
    return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(url, res) {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    const cookies = this.jar.get(host);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (expired || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    assertLoopback(url);
    const headers = {};
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = new URL(url).origin;
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    this.store(url, res);
    return res;
  }

  /**
   * Open `url` and go on as `user` would: follow redirects, sign in when asked, approve when
   * asked; stop at a redirect for which `stopAt` is true ({redirect}), or at any other page
   * ({status, html}).
   */
  async drive(url, user, password, stopAt) {
    let current = url;
    let res = await this.request(current);
    for (let i = 0; i < 24; i++) {
      if (res.status === 302 || res.status === 303) {
        const next = new URL(res.headers.get('location'), current).toString();
        await res.arrayBuffer();
        if (stopAt(next)) return { redirect: next };
        res = await this.request(next);
        current = next;
        continue;
      }
      const html = await res.text();
      const signingIn = html.includes('name="password"') && html.includes('name="username"');
      const approving = html.includes('name="decision" value="approve"');
      if (res.status !== 200 || !(signingIn || approving)) return { status: res.status, html };
      const { action, fields } = parseForm(html);
      if (signingIn) {
        console.error(`  browser: sign in as ${user} at ${new URL(current).origin}`);
        fields.push(['username', user], ['password', password]);
      } else {
        console.error(`  browser: approve at ${new URL(current).origin}`);
        fields.push(['decision', 'approve']);
      }
      const target = new URL(action, current).toString();
      res = await this.request(target, { method: 'POST', form: fields });
      current = target;
    }
    fail(`the browser went round in circles from ${url}`);
  }
}
