import * as cheerio from 'cheerio';

/**
 * A browser without JavaScript, over real HTTP: keeps cookies per name (as a browser on one host
 * does, paths honoured), follows redirects within SigID and stops at one that leaves it (the
 * application's redirect URI), and fills and posts the hosted pages' forms as a person would.
 * The pages must work without JavaScript, so this is how most page tests drive them.
 */
export class FormBrowser {
  readonly #cookies = new Map<string, { value: string; path: string }>();
  /** Where requests go: SigID's address (switch it to reach another process of one deployment). */
  origin: string;
  /** SigID's public origin, when it is not where requests go (redirects and links to it go to `origin`). */
  readonly #publicOrigin: string;
  /** The last page: its URL, status and HTML. */
  page = { url: '', status: 0, html: '', $: cheerio.load(''), headers: new Headers() };
  /** Where the last redirect that left SigID pointed (the application's callback with its code). */
  leftTo: URL | undefined;

  constructor(origin: string, options: { publicOrigin?: string } = {}) {
    this.origin = origin;
    this.#publicOrigin = options.publicOrigin ?? origin;
  }

  /** A URL at SigID's public origin, as the address requests go to. */
  #local(url: URL): URL {
    if (url.origin !== this.#publicOrigin) return url;
    return new URL(url.pathname + url.search, this.origin);
  }

  #cookieHeader(url: URL): string {
    return [...this.#cookies]
      .filter(([, cookie]) => url.pathname.startsWith(cookie.path))
      .map(([name, cookie]) => `${name}=${cookie.value}`)
      .join('; ');
  }

  #store(response: Response, url: URL) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const [name, ...rest] = (pair ?? '').split('=');
      const value = rest.join('=');
      const path = attributes.find((attribute) => /^path=/i.test(attribute))?.slice(5) ?? url.pathname;
      const expired = attributes.some((attribute) => /^expires=Thu, 01 Jan 1970/i.test(attribute)) || value === '';
      if (!name) continue;
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, { value, path });
    }
  }

  cookieNames(): string[] {
    return [...this.#cookies.keys()];
  }

  async request(
    url: string | URL,
    init: { method?: string; form?: Record<string, string>; body?: string; headers?: Record<string, string> } = {},
  ) {
    let target = this.#local(new URL(url, this.origin));
    let method = init.method ?? (init.form || init.body !== undefined ? 'POST' : 'GET');
    // `body` as it is (a hostile client's bytes); `form` encoded as a browser encodes it.
    let body: string | undefined = init.body ?? (init.form ? new URLSearchParams(init.form).toString() : undefined);
    this.leftTo = undefined;
    for (let hops = 0; hops < 20; hops++) {
      if (process.env.DEBUG_BROWSER) console.log(method, target.href);
      const response = await fetch(target, {
        method,
        redirect: 'manual',
        headers: {
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...(method === 'POST' ? { origin: this.#publicOrigin } : {}),
          cookie: this.#cookieHeader(target),
          // Behind the deployment's proxy: the public host, as the proxy passes it on.
          ...(this.#publicOrigin !== this.origin ? { 'x-forwarded-host': new URL(this.#publicOrigin).host } : {}),
          ...init.headers,
        },
        body,
      });
      this.#store(response, target);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        const next = this.#local(new URL(location, target));
        await response.arrayBuffer();
        if (next.origin !== this.origin || next.pathname.startsWith('/callback')) {
          this.leftTo = next;
          this.page = {
            url: next.href,
            status: response.status,
            html: '',
            $: cheerio.load(''),
            headers: response.headers,
          };
          return this.page;
        }
        target = next;
        method = 'GET';
        body = undefined;
        continue;
      }
      const html = await response.text();
      this.page = { url: target.href, status: response.status, html, $: cheerio.load(html), headers: response.headers };
      return this.page;
    }
    throw new Error('too many redirects');
  }

  /** Fills the form that holds `selector` (a field or button) and posts it. */
  async submit(selector: string, fields: Record<string, string> = {}, button?: { name: string; value: string }) {
    const $ = this.page.$;
    const owner = $(selector).attr('form');
    const form = owner ? $(`form[id="${owner}"]`) : $(selector).closest('form');
    if (form.length === 0) throw new Error(`no form holds ${selector} on ${this.page.url}:\n${this.page.html}`);
    const values: Record<string, string> = {};
    form.find('input').each((_, input) => {
      const name = $(input).attr('name');
      if (name) values[name] = $(input).attr('value') ?? '';
    });
    Object.assign(values, fields);
    if (button) values[button.name] = button.value;
    return this.request(new URL(form.attr('action') ?? this.page.url, this.origin), { form: values });
  }

  text(selector = 'main'): string {
    return this.page.$(selector).text().replace(/\s+/g, ' ').trim();
  }
}
