/** One admin API route: a method, a path below /admin/api (its groups are the parameters), a handler. */
export type Route = readonly [
  method: string,
  path: RegExp,
  handle: (request: Request, url: URL, params: string[]) => Response | Promise<Response>,
];
