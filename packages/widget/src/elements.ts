/**
 * <lookalike-similar item-id="…"> (similar to a catalogue item) and <lookalike-similar-upload>
 * (similar to a photo the shopper picks or drops). Both render the same shadow-DOM result list and
 * emit the same events; see the README section "Add similar items to your shop".
 */
import {
  imageUrl,
  similarToItem,
  similarToPhoto,
  thumbnailBlobUrl,
  WidgetError,
  type Endpoint,
  type Results,
} from './api';
import { eventsEndpoint, postEvents, shopperEvents, type EventContext, type ShopperEvent } from './events';
import { clampK, toCard, type Card, type FieldMap } from './format';
import { CSS } from './styles';

/** Where this module was loaded from: the API that serves /widget/lookalike.js is the default `api`. */
const SCRIPT_URL = import.meta.url;

export type Source = 'item' | 'upload';

/** `lookalike-impression`: a result list was shown. */
export interface ImpressionDetail {
  source: Source;
  /** The item the results are similar to (`item-id`); null for a photo. */
  itemId: string | null;
  indexVersion: number | null;
  /** The list's `queryId` (the API's answer), for a shop posting its own events about it; null if absent. */
  queryId: string | null;
  results: Array<{ id: string; position: number }>;
}

/** `lookalike-click`: a result was activated; cancelable (preventDefault keeps the page, e.g. SPA routing). */
export interface ClickDetail {
  source: Source;
  itemId: string | null;
  /** The `queryId` of the list the result was in (see ImpressionDetail). */
  queryId: string | null;
  id: string;
  /** 1-based, as shown. */
  position: number;
  url: string | null;
}

/**
 * `lookalike-error`: the search failed (the widget shows a short message itself), or, with code
 * EVENTS_FAILED, posting shopper events did (nothing is shown: the results stay).
 */
export interface ErrorDetail {
  source: Source;
  itemId: string | null;
  /** HTTP status, or null when no answer reached the page (API down, or its origin not allowed). */
  status: number | null;
  /** The API's problem code, or NETWORK / BAD_RESPONSE; EVENTS_FAILED for shopper events not recorded. */
  code: string;
  message: string;
}

const sheet = (() => {
  // A constructed sheet is not inline style: it works under a shop's strict style-src CSP.
  try {
    const constructed = new CSSStyleSheet();
    constructed.replaceSync(CSS);
    return constructed;
  } catch {
    return null;
  }
})();

let instances = 0;

/** What a rendered list's cards need to know about it. */
interface ListInfo {
  endpoint: Endpoint;
  itemId: string | null;
  queryId: string | null;
  /** Null: the list cannot be named to the events API (an upload answer without a queryId). */
  context: EventContext | null;
}

abstract class SimilarBase extends HTMLElement {
  static readonly common = [
    'api',
    'api-key',
    'k',
    'filter',
    'heading',
    'title-field',
    'price-field',
    'url-field',
    'url-template',
    'currency',
  ];

  protected abstract readonly source: Source;
  protected readonly root: ShadowRoot;
  protected readonly section: HTMLElement;
  private readonly headingElement: HTMLHeadingElement;
  private readonly status: HTMLParagraphElement;
  private readonly list: HTMLUListElement;
  private controller: AbortController | null = null;
  private objectUrls: string[] = [];
  private scheduled = false;
  protected readonly uid = `lookalike-${++instances}`;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    if (sheet) this.root.adoptedStyleSheets = [sheet];
    else this.root.append(Object.assign(document.createElement('style'), { textContent: CSS }));
    this.section = document.createElement('section');
    this.section.setAttribute('part', 'container');
    this.headingElement = document.createElement('h2');
    this.headingElement.className = 'heading';
    this.headingElement.id = `${this.uid}-heading`;
    this.headingElement.setAttribute('part', 'heading');
    this.section.setAttribute('aria-labelledby', this.headingElement.id);
    this.status = document.createElement('p');
    this.status.className = 'status quiet';
    this.status.setAttribute('part', 'status');
    // role=status is a polite live region: loading, result counts and errors are announced.
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.list = document.createElement('ul');
    this.list.className = 'grid';
    this.list.setAttribute('part', 'list');
    this.list.setAttribute('aria-labelledby', this.headingElement.id);
    this.section.append(this.headingElement, this.status, this.list);
    this.root.append(this.section);
  }

  connectedCallback(): void {
    this.headingElement.textContent = this.getAttribute('heading') ?? 'Similar items';
    this.schedule();
  }

  disconnectedCallback(): void {
    this.controller?.abort();
    this.controller = null;
    this.releaseImages();
  }

  attributeChangedCallback(name: string, previous: string | null, next: string | null): void {
    if (previous === next || !this.isConnected) return;
    if (name === 'heading') this.headingElement.textContent = next ?? 'Similar items';
    else this.schedule();
  }

  /** Several attributes set in one task cause one search, not one each. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.isConnected) this.refresh();
    });
  }

  /** Runs the element's search for its current attributes (nothing when it has nothing to search by). */
  protected abstract refresh(): void;

  protected get endpoint(): Endpoint {
    const given = this.getAttribute('api');
    const base = new URL(given ?? '../', given ? document.baseURI : SCRIPT_URL);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    return { base: base.href, apiKey: this.getAttribute('api-key') || null };
  }

  protected get k(): number {
    return clampK(this.getAttribute('k'));
  }

  protected get filter(): string | null {
    return this.getAttribute('filter') || null;
  }

  protected get itemId(): string | null {
    return null;
  }

  /**
   * Shopper events are posted only with the `events` attribute (`events="on"`; `off`, `false` or
   * `0` is the same as none): nothing leaves the page by default.
   */
  private get eventsEnabled(): boolean {
    const value = this.getAttribute('events');
    return value !== null && !['off', 'false', '0', 'no'].includes(value.trim().toLowerCase());
  }

  /** The list shopper events name: by its source item, or by the answer's queryId (null: none to name). */
  protected abstract eventContext(itemId: string | null, queryId: string | null): EventContext | null;

  /**
   * Posts shopper events when enabled, without ever failing the page: a failure (after at most one
   * retry) becomes a lookalike-error with code EVENTS_FAILED.
   */
  private record(
    endpoint: Endpoint,
    itemId: string | null,
    type: ShopperEvent['type'],
    context: EventContext | null,
    items: ReadonlyArray<{ itemId: string; position: number }>,
  ): void {
    if (!this.eventsEnabled || !context || items.length === 0) return;
    let target: ReturnType<typeof eventsEndpoint>;
    let events: ShopperEvent[];
    try {
      target = eventsEndpoint(endpoint, this.getAttribute('events-key'));
      events = shopperEvents(type, context, items);
    } catch (error) {
      return this.eventsFailed(error, itemId);
    }
    // keepalive for clicks: a click starts a navigation, and its request must outlive the page that
    // sent it. Not for impressions: a batch of 100 is ~30 kB, and keepalive bodies share a 64 kB quota.
    postEvents(target, events, { keepalive: type === 'click' }).catch((error: unknown) =>
      this.eventsFailed(error, itemId),
    );
  }

  private eventsFailed(error: unknown, itemId: string | null): void {
    const problem = error instanceof WidgetError ? error : null;
    this.emit<ErrorDetail>('lookalike-error', {
      source: this.source,
      itemId,
      status: problem?.status ?? null,
      code: 'EVENTS_FAILED',
      message: problem?.message ?? String((error as Error | undefined)?.message ?? error),
    });
  }

  private get fields(): FieldMap {
    return {
      titleField: this.getAttribute('title-field') || 'productDisplayName',
      priceField: this.getAttribute('price-field') || 'price',
      urlField: this.getAttribute('url-field') || 'url',
      urlTemplate: this.getAttribute('url-template') || null,
      currency: this.getAttribute('currency') || null,
      locale: this.closest('[lang]')?.getAttribute('lang') || undefined,
      baseUrl: document.baseURI,
    };
  }

  /**
   * Clears the results (no item id, no photo picked yet); `hide` also hides the heading, so an
   * element without an item takes no room on the page.
   */
  protected idle(hide: boolean): void {
    this.section.hidden = hide;
    this.controller?.abort();
    this.controller = null;
    this.releaseImages();
    this.list.replaceChildren();
    this.setStatus('', 'quiet');
    this.section.removeAttribute('aria-busy');
  }

  /** One search at a time: a newer one aborts the one in flight, whose answer is then ignored. */
  protected async run(search: (endpoint: Endpoint, signal: AbortSignal) => Promise<Results>): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const endpoint = this.endpoint;
    const itemId = this.itemId;
    this.section.hidden = false;
    this.section.setAttribute('aria-busy', 'true');
    this.setStatus('Loading similar items…', 'quiet');
    try {
      const answer = await search(endpoint, controller.signal);
      if (controller.signal.aborted) return;
      this.render(answer, endpoint, itemId, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return;
      this.fail(error, itemId);
    } finally {
      if (this.controller === controller) this.section.setAttribute('aria-busy', 'false');
    }
  }

  private setStatus(message: string, kind: 'quiet' | 'shown' | 'error'): void {
    this.status.textContent = message;
    this.status.className = `status ${kind === 'shown' ? '' : kind}`.trim();
    this.status.dataset.state = kind;
  }

  private releaseImages(): void {
    for (const url of this.objectUrls) URL.revokeObjectURL(url);
    this.objectUrls = [];
  }

  private render(answer: Results, endpoint: Endpoint, itemId: string | null, signal: AbortSignal): void {
    this.releaseImages();
    const fields = this.fields;
    const cards = answer.results.map((hit) => toCard(hit.id, hit.metadata ?? {}, fields));
    const list: ListInfo = {
      endpoint,
      itemId,
      queryId: answer.queryId,
      context: this.eventContext(itemId, answer.queryId),
    };
    this.list.replaceChildren(...cards.map((card, index) => this.cardElement(card, index, list, signal)));
    this.setStatus(
      cards.length === 0
        ? 'No similar items found.'
        : `${cards.length} similar ${cards.length === 1 ? 'item' : 'items'}`,
      cards.length === 0 ? 'shown' : 'quiet',
    );
    if (cards.length === 0) return;
    this.emit<ImpressionDetail>('lookalike-impression', {
      source: this.source,
      itemId,
      indexVersion: answer.indexVersion,
      queryId: answer.queryId,
      results: cards.map((card, index) => ({ id: card.id, position: index + 1 })),
    });
    // One batch per rendered list; the API's positions are zero-based.
    this.record(
      endpoint,
      itemId,
      'impression',
      list.context,
      cards.map((card, index) => ({ itemId: card.id, position: index })),
    );
  }

  /** One result card; `index` is its zero-based position in the list. */
  private cardElement(card: Card, index: number, list: ListInfo, signal: AbortSignal): HTMLLIElement {
    const { endpoint } = list;
    const li = document.createElement('li');
    li.setAttribute('part', 'item');
    li.dataset.id = card.id;
    // Without a product URL the card is not a link (and so not a tab stop): nothing to go to.
    const box = document.createElement(card.url ? 'a' : 'div');
    box.className = 'card';
    box.setAttribute('part', 'card');
    const img = document.createElement('img');
    img.className = 'image';
    img.setAttribute('part', 'image');
    img.alt = card.title;
    img.loading = 'lazy';
    img.decoding = 'async';
    img.width = 192;
    img.height = 256;
    if (endpoint.apiKey) {
      void thumbnailBlobUrl(endpoint, card.id, signal).then((url) => {
        if (!url) return;
        if (signal.aborted) return URL.revokeObjectURL(url);
        this.objectUrls.push(url);
        img.src = url;
      });
    } else {
      img.src = imageUrl(endpoint, card.id);
    }
    const title = document.createElement('span');
    title.className = 'title';
    title.setAttribute('part', 'title');
    title.textContent = card.title;
    // The image's alt already names the product: said once, not twice.
    title.setAttribute('aria-hidden', 'true');
    box.append(img, title);
    if (card.price !== null) {
      const price = document.createElement('span');
      price.className = 'price';
      price.setAttribute('part', 'price');
      price.textContent = card.price;
      box.append(price);
    }
    if (box instanceof HTMLAnchorElement && card.url) {
      box.href = card.url;
      const { itemId, queryId } = list;
      box.addEventListener('click', (event) => {
        const allowed = this.emit<ClickDetail>(
          'lookalike-click',
          { source: this.source, itemId, queryId, id: card.id, position: index + 1, url: card.url },
          true,
        );
        if (!allowed) event.preventDefault();
        // Recorded whether the page follows the link or routes itself (preventDefault).
        this.record(endpoint, itemId, 'click', list.context, [{ itemId: card.id, position: index }]);
      });
    }
    li.append(box);
    return li;
  }

  private fail(error: unknown, itemId: string | null): void {
    this.list.replaceChildren();
    this.releaseImages();
    const problem =
      error instanceof WidgetError
        ? error
        : new WidgetError(null, 'NETWORK', String((error as Error)?.message ?? error));
    this.setStatus(this.messageFor(problem), 'error');
    this.emit<ErrorDetail>('lookalike-error', {
      source: this.source,
      itemId,
      status: problem.status,
      code: problem.code,
      message: problem.message,
    });
  }

  /** What the shopper reads: short and polite; the details go to the lookalike-error event. */
  protected messageFor(error: WidgetError): string {
    if (error.code === 'ITEM_NOT_FOUND') return 'No similar items for this product yet.';
    return 'Similar items are unavailable right now. Please try again later.';
  }

  /** Dispatches a bubbling, composed event; answers false when a listener called preventDefault(). */
  protected emit<T>(type: string, detail: T, cancelable = false): boolean {
    return this.dispatchEvent(
      new CustomEvent<T>(type, { detail, bubbles: true, composed: true, cancelable }),
    );
  }
}

/** `<lookalike-similar item-id="5974" k="8">`: the items most similar to a catalogue item. */
export class LookalikeSimilar extends SimilarBase {
  static readonly observedAttributes = [...SimilarBase.common, 'item-id'];
  protected readonly source = 'item' as const;

  protected override get itemId(): string | null {
    return this.getAttribute('item-id')?.trim() || null;
  }

  protected eventContext(itemId: string | null): EventContext | null {
    return itemId ? { sourceItemId: itemId } : null;
  }

  protected refresh(): void {
    const id = this.itemId;
    if (!id) return this.idle(true);
    const k = this.k;
    const filter = this.filter;
    void this.run((endpoint, signal) => similarToItem(endpoint, id, { k, filter, signal }));
  }
}

/**
 * `<lookalike-similar-upload k="8">`: a file input and drop zone; the picked photo goes to
 * `POST /v1/similar` and the most similar items are shown under it.
 */
export class LookalikeSimilarUpload extends SimilarBase {
  static readonly observedAttributes = [...SimilarBase.common, 'label'];
  protected readonly source = 'upload' as const;
  private readonly input: HTMLInputElement;
  private readonly label: HTMLLabelElement;
  private photo: Blob | null = null;

  constructor() {
    super();
    const zone = document.createElement('div');
    zone.className = 'dropzone';
    zone.setAttribute('part', 'dropzone');
    this.label = document.createElement('label');
    this.label.htmlFor = `${this.uid}-file`;
    this.input = document.createElement('input');
    this.input.type = 'file';
    this.input.id = this.label.htmlFor;
    this.input.accept = 'image/jpeg,image/png,image/webp,image/*';
    this.input.setAttribute('part', 'input');
    const hint = document.createElement('p');
    hint.className = 'hint';
    hint.textContent = 'or drop a photo here';
    zone.append(this.label, this.input, hint);
    this.section.insertBefore(zone, this.section.querySelector('.status'));

    this.input.addEventListener('change', () => this.pick(this.input.files?.[0] ?? null));
    zone.addEventListener('dragover', (event) => {
      event.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (event) => {
      event.preventDefault();
      zone.classList.remove('over');
      this.pick(event.dataTransfer?.files[0] ?? null);
    });
  }

  override connectedCallback(): void {
    this.label.textContent = this.getAttribute('label') ?? 'Find similar items by photo';
    super.connectedCallback();
  }

  override attributeChangedCallback(name: string, previous: string | null, next: string | null): void {
    if (name === 'label') this.label.textContent = next ?? 'Find similar items by photo';
    else super.attributeChangedCallback(name, previous, next);
  }

  private pick(file: Blob | null): void {
    this.photo = file;
    this.refresh();
  }

  protected eventContext(_itemId: string | null, queryId: string | null): EventContext | null {
    return queryId ? { queryId } : null;
  }

  protected refresh(): void {
    const photo = this.photo;
    if (!photo) return this.idle(false);
    const k = this.k;
    const filter = this.filter;
    void this.run((endpoint, signal) => similarToPhoto(endpoint, photo, { k, filter, signal }));
  }

  protected override messageFor(error: WidgetError): string {
    // 400/413/415/422: the photo itself was refused (not an image, too large, too many pixels).
    if (
      error.status !== null &&
      error.status >= 400 &&
      error.status < 500 &&
      error.status !== 401 &&
      error.status !== 429
    )
      return 'That photo could not be used. Please try a JPEG, PNG or WebP image.';
    return super.messageFor(error);
  }
}
