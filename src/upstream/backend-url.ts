/**
 * URLs of the backends. A base URL may carry a path of its own (a legacy app mounted under /chat): the
 * Socket.IO path goes under it, whatever slashes the operator wrote at its end.
 */

/** `path` (the Socket.IO path, e.g. "/socket.io/") under `base`, with `params` as the whole query. */
export function backendUrl(base: string, path: string, params: Iterable<readonly [string, string]> = []): URL {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/+$/, "") + path;
  const search = new URLSearchParams();
  for (const [key, value] of params) search.append(key, value);
  url.search = search.toString();
  return url;
}

/** The WebSocket URL of an http(s) one (the settings accept either); ws(s) URLs stay as they are. */
export function webSocketUrl(url: URL): URL {
  const ws = new URL(url);
  if (ws.protocol === "http:") ws.protocol = "ws:";
  else if (ws.protocol === "https:") ws.protocol = "wss:";
  return ws;
}
