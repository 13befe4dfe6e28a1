/**
 * Hybrid logical clocks in the platform's wire form, `<13-digit Unix ms>-<5-digit counter>-<node>`
 * (the Rust side is `shared::model::sync::hlc`; both pass `test/hlc-vectors.json`). Fixed widths make
 * the strings sort as the clocks do, so two clocks compare as plain strings.
 */

/** How far ahead of the server's clock a pushed clock may be before the server refuses it. */
export const MAX_AHEAD_MS = 5 * 60 * 1000;

const MAX_COUNTER = 99_999;
const MAX_WALL = 9_999_999_999_999;
const NODE = /^[A-Za-z0-9_-]{1,64}$/;
const WIRE = /^(\d{13})-(\d{5})-(.+)$/s;

/** One timestamp, read. */
export interface Hlc {
  wallMs: number;
  counter: number;
  node: string;
}

/** Reads a clock; throws on anything but the wire form. */
export function parseHlc(raw: string): Hlc {
  const match = WIRE.exec(raw);
  if (!match || !NODE.test(match[3])) {
    throw new Error(`${JSON.stringify(raw)} is not <13-digit milliseconds>-<5-digit counter>-<node>`);
  }
  return { wallMs: Number(match[1]), counter: Number(match[2]), node: match[3] };
}

export function formatHlc({ wallMs, counter, node }: Hlc): string {
  if (!Number.isInteger(wallMs) || wallMs < 0 || wallMs > MAX_WALL) throw new Error("wall time must fit 13 digits of milliseconds");
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) throw new Error(`counter must be at most ${MAX_COUNTER}`);
  if (!NODE.test(node)) throw new Error("node must be 1 to 64 of A-Z, a-z, 0-9, _ and -");
  return `${String(wallMs).padStart(13, "0")}-${String(counter).padStart(5, "0")}-${node}`;
}

/** -1, 0 or 1 as `a` orders before, with or after `b` (absent clocks order first). */
export function compareHlc(a: string | undefined, b: string | undefined): number {
  const x = a ?? "";
  const y = b ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The later of two clocks. */
export function maxHlc(a: string | undefined, b: string | undefined): string | undefined {
  return compareHlc(a, b) >= 0 ? a : b;
}

/**
 * A node's clock: timestamps that only go up and order after every clock it has observed.
 * `tick` stamps a local change, `observe` folds in a received clock (a record's, or the
 * server's `server_hlc`).
 */
export class Clock {
  private wallMs = 0;
  private counter = 0;

  constructor(readonly node: string) {
    formatHlc({ wallMs: 0, counter: 0, node });
  }

  /** A timestamp for a local change at wall time `nowMs`. */
  tick(nowMs: number = Date.now()): string {
    const wall = Math.max(this.wallMs, nowMs);
    return this.advance(wall, wall === this.wallMs ? this.counter : undefined);
  }

  /** Folds in `remote` at wall time `nowMs`; returns the new timestamp. */
  observe(remote: string, nowMs: number = Date.now()): string {
    const seen = parseHlc(remote);
    const wall = Math.max(this.wallMs, seen.wallMs, nowMs);
    let counter: number | undefined;
    if (wall === this.wallMs && wall === seen.wallMs) counter = Math.max(this.counter, seen.counter);
    else if (wall === this.wallMs) counter = this.counter;
    else if (wall === seen.wallMs) counter = seen.counter;
    return this.advance(wall, counter);
  }

  /** The next timestamp at `wall` after counter `seen`; a full counter borrows the next ms. */
  private advance(wall: number, seen: number | undefined): string {
    if (seen === undefined) {
      this.wallMs = wall;
      this.counter = 0;
    } else if (seen < MAX_COUNTER) {
      this.wallMs = wall;
      this.counter = seen + 1;
    } else {
      this.wallMs = wall + 1;
      this.counter = 0;
    }
    return formatHlc({ wallMs: this.wallMs, counter: this.counter, node: this.node });
  }
}
