/**
 * The client listener's certificate and key (TLS_CERT_FILE, TLS_KEY_FILE), read at start-up and again when
 * either file changes, so that a renewed certificate is served without a restart. A new pair is checked
 * (node builds a secure context from it) before it replaces the old one: a half-written renewal (the
 * certificate replaced, the key not yet) is reported and the old pair stays until the pair matches again.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from "node:fs";
import { createSecureContext } from "node:tls";

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly reloadIntervalMs: number;
}

export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads and checks the pair; throws (naming the files) when it cannot serve. */
export function readTlsPair(files: TlsFiles): TlsPair {
  const pair = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  try {
    createSecureContext(pair);
  } catch (error) {
    throw new Error(`${files.certFile} and ${files.keyFile} do not make a usable pair: ${(error as Error).message}`);
  }
  return pair;
}

/** Why the pair cannot serve (unreadable, not PEM, not matching), or undefined: start-up refuses it (exit 78). */
export function tlsPairProblem(certFile: string, keyFile: string): string | undefined {
  try {
    readTlsPair({ certFile, keyFile, reloadIntervalMs: 0 });
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Calls `apply` with the new pair after either file changed (polled every reloadIntervalMs), or `failed`
 * when the new pair cannot serve. Returns the function that stops watching.
 */
export function watchTlsFiles(files: TlsFiles, apply: (pair: TlsPair) => void, failed: (error: Error) => void): () => void {
  const changed = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
    try {
      apply(readTlsPair(files));
    } catch (error) {
      failed(error as Error);
    }
  };
  const options = { interval: files.reloadIntervalMs, persistent: false };
  watchFile(files.certFile, options, changed);
  watchFile(files.keyFile, options, changed);
  return () => {
    unwatchFile(files.certFile, changed);
    unwatchFile(files.keyFile, changed);
  };
}
