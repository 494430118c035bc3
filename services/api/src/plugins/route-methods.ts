/**
 * Which methods each registered path answers, so a known path asked with another method gets 405 and
 * an `Allow` header instead of the router's 404. Filled from Fastify's onRoute hook.
 */
export class RouteMethods {
  private readonly routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];
  private readonly byUrl = new Map<string, Set<string>>();

  /** `url` as Fastify has it (`/v1/items/:id/similar`); wildcard routes (CORS preflight) are skipped. */
  add(methods: string | string[], url: string): void {
    if (url.includes('*')) return;
    let known = this.byUrl.get(url);
    if (!known) {
      known = new Set();
      this.byUrl.set(url, known);
      this.routes.push({ pattern: RouteMethods.patternOf(url), methods: known });
    }
    for (const method of Array.isArray(methods) ? methods : [methods]) known.add(method.toUpperCase());
    // Fastify answers HEAD on every GET route by itself.
    if (known.has('GET')) known.add('HEAD');
  }

  /** The methods some route answers on this concrete path (`/v1/items/x`), sorted; empty when none. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.routes) {
      if (route.pattern.test(path)) for (const method of route.methods) methods.add(method);
    }
    return [...methods].sort();
  }

  /** A parameter (`:id`) is one non-empty path segment, as in the router. */
  private static patternOf(url: string): RegExp {
    const source = url
      .split('/')
      .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    return new RegExp(`^${source}$`);
  }
}
