/**
 * The live channel: a WebSocket on which the server says "pull now" for some collections
 * (`{"type": "sync.poke", "collections": [...]}`), never data. It is opened with a short-lived
 * ticket (`POST /api/sync/stream/ticket` answers the socket's URL with it), since a browser cannot
 * give a WebSocket an Authorization header. Every (re)connect, the first included, counts as a
 * poke of every collection: what changed while it was closed is pulled.
 */
import { Observable, Subject, share } from "rxjs";
import type { Api } from "./http.js";

/** What the channel reports: the collections to pull (`"all"` on a connect). */
export type Poke = { collections: string[] | "all" };

export interface LiveOptions {
  /** Delays between reconnects, in ms (then the last one, repeated). */
  backoff?: number[];
}

export class LiveChannel {
  /** Open when the socket is connected. */
  readonly connected$ = new Subject<boolean>();
  readonly pokes$: Observable<Poke>;
  private socket: WebSocket | null = null;
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly backoff: number[];

  constructor(
    private readonly api: Api,
    options: LiveOptions = {},
  ) {
    this.backoff = options.backoff ?? [250, 1000, 2000, 5000, 10000, 30000];
    this.pokes$ = new Observable<Poke>((subscriber) => {
      this.stopped = false;
      const online = () => {
        if (this.socket?.readyState !== 1) this.reconnectNow();
      };
      globalThis.addEventListener?.("online", online);
      void this.open((poke) => subscriber.next(poke));
      return () => {
        globalThis.removeEventListener?.("online", online);
        this.stop();
      };
    }).pipe(share());
  }

  private emit: ((poke: Poke) => void) | null = null;

  private async open(emit: (poke: Poke) => void): Promise<void> {
    this.emit = emit;
    if (this.stopped) return;
    try {
      const ticket = await this.api.call<{ url: string }>("POST", "/api/sync/stream/ticket", {});
      if (this.stopped) return;
      const socket = new WebSocket(ticket.url);
      this.socket = socket;
      socket.onopen = () => {
        this.attempts = 0;
        this.connected$.next(true);
        emit({ collections: "all" });
      };
      socket.onmessage = (event) => {
        try {
          const message = JSON.parse(String(event.data));
          if (message?.type === "sync.poke" && Array.isArray(message.collections)) {
            emit({ collections: message.collections });
          }
        } catch {
          // Not a poke: nothing to do.
        }
      };
      socket.onclose = () => {
        if (this.socket === socket) {
          this.socket = null;
          this.connected$.next(false);
          this.schedule();
        }
      };
    } catch {
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    const delay = this.backoff[Math.min(this.attempts, this.backoff.length - 1)];
    this.attempts++;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.emit) void this.open(this.emit);
    }, delay);
  }

  /** Drops the socket and opens a new one now (the browser came back online, say). */
  reconnectNow(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.attempts = 0;
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    if (this.emit) void this.open(this.emit);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }
}
