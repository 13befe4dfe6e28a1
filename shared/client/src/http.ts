/** Calls to the platform's API with the app's token, asking the app for a new one on a 401. */

/** An answer other than 2xx, with the problem+json the platform sends. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { code?: string; detail?: string } | null,
    readonly retryAfter: number | null,
  ) {
    super(`HTTP ${status}${problem?.code ? ` ${problem.code}` : ""}${problem?.detail ? `: ${problem.detail}` : ""}`);
  }
}

export interface Credentials {
  /** The current bearer token (a staff JWT or a student's access token), or null if none. */
  token: () => string | null | undefined | Promise<string | null | undefined>;
  /** Asked after a 401: sign in again or refresh, then the call is tried once more. */
  refreshToken?: () => unknown | Promise<unknown>;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly credentials: Credentials,
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  /** The URL of `path` on the API. */
  url(path: string): string {
    return new URL(path, this.baseUrl || globalThis.location?.href).toString();
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.credentials.token();
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      const answer = await this.fetcher(this.url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
      if (answer.status === 401 && attempt === 0 && this.credentials.refreshToken) {
        await this.credentials.refreshToken();
        continue;
      }
      if (!answer.ok) {
        const problem = await answer.json().catch(() => null);
        const retry = Number(answer.headers.get("retry-after"));
        throw new HttpError(answer.status, problem, Number.isFinite(retry) && retry > 0 ? retry : null);
      }
      return (await answer.json()) as T;
    }
  }
}
