import type { ShopperEvent } from '../src';

/** A valid event (a click at 09:30:00.5 UTC on 2026-12-07, written with a +02:00 offset); fields overridden per case. */
export function event(eventId: string, overrides: Record<string, unknown> = {}): ShopperEvent {
  return {
    eventId,
    type: 'click',
    itemId: 'sku-2',
    context: { sourceItemId: 'sku-1' },
    position: 1,
    timestamp: '2026-12-07T11:30:00.5+02:00',
    sessionId: 's_abcdefgh',
    ...overrides,
  } as ShopperEvent;
}
