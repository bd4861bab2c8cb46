import { CatbusError, ErrorCode } from "../shared/errors.ts";

/** Codes after which reconnecting with the same credentials cannot help. */
const PERMANENT = new Set<string>([ErrorCode.Unauthorized, ErrorCode.Revoked]);

/** Where the client's tokens come from: `token`, then `getToken` for every later one. */
export class TokenSource {
  readonly #token?: string;
  readonly #getToken?: () => string | Promise<string>;
  /** Whether a hello was ever welcomed: later ones take a fresh token from getToken. */
  #usedBefore = false;

  constructor(token?: string, getToken?: () => string | Promise<string>) {
    this.#token = token;
    this.#getToken = getToken;
  }

  /** The token for hello: `token` the first time, else a fresh one from `getToken`. */
  async forHello(): Promise<string | undefined> {
    const getToken = this.#getToken;
    if (!getToken || (this.#token !== undefined && !this.#usedBefore)) {
      return this.#token;
    }
    try {
      return await getToken();
    } catch (e) {
      throw new CatbusError(ErrorCode.Unauthorized, `getToken() failed: ${e}`, {
        cause: e,
      });
    }
  }

  /** The server welcomed a hello. */
  welcomed(): void {
    this.#usedBefore = true;
  }

  /**
   * The server said the token expires soon: hands a new one from `getToken` to `hand` (a
   * refresh over the open connection). Rejects with a `CatbusError`.
   */
  async refresh(hand: (token: string) => Promise<unknown>): Promise<void> {
    const getToken = this.#getToken;
    if (!getToken) return;
    try {
      await hand(await getToken());
    } catch (e) {
      throw e instanceof CatbusError
        ? e
        : new CatbusError(ErrorCode.Unauthorized, `getToken() failed: ${e}`, {
          cause: e,
        });
    }
  }

  /** Whether reconnecting cannot help after this error code: the same token cannot do better. */
  isPermanent(code: string): boolean {
    return PERMANENT.has(code) && !this.#getToken;
  }
}
