/**
 * The sample chat's message history, shared by both sample backends. Without Redis each process keeps its
 * own (in memory); with `REDIS_URL` the legacy chat and the hub read and write one Redis list per room, as a
 * real migration shares its database: a user moved between backends (split, drain, rollback) still sees
 * what they said on the other one. Keys: `<keyPrefix>sample-chat:history:<room>` (last HISTORY_LIMIT kept).
 */
import { Redis } from "ioredis";

export interface ChatMessage {
  room: string;
  text: string;
  from: string;
  id: string;
  ts: number;
}

export interface ChatHistory {
  /** Records a message; commands on one connection run in order, so a later `recent` sees it. */
  append(message: ChatMessage): void;
  /** The room's history, oldest first; synchronous in memory so that acks keep their timing there. */
  recent(room: string): ChatMessage[] | Promise<ChatMessage[]>;
  close(): Promise<void>;
}

export interface ChatHistoryOptions {
  /** Share the history through this Redis; unset: in memory, per process. */
  readonly redisUrl?: string | undefined;
  /** Default "switchyard:" (the gateway's REDIS_KEY_PREFIX default). */
  readonly keyPrefix?: string | undefined;
}

export const HISTORY_LIMIT = 50;

function memoryHistory(): ChatHistory {
  const rooms = new Map<string, ChatMessage[]>();
  return {
    append(message) {
      const kept = rooms.get(message.room) ?? [];
      kept.push(message);
      if (kept.length > HISTORY_LIMIT) kept.shift();
      rooms.set(message.room, kept);
    },
    recent: (room) => rooms.get(room) ?? [],
    close: async () => {},
  };
}

function redisHistory(url: string, keyPrefix: string): ChatHistory {
  // A sample must not die with Redis: commands fail fast while it is away and the chat goes on without history.
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
  let warned = false;
  const warn = (error: Error) => {
    if (warned) return;
    warned = true;
    process.stderr.write(`sample chat: history store unavailable (${error.message}); going on without it\n`);
  };
  redis.on("error", warn);
  redis.on("ready", () => {
    warned = false;
  });
  const keyOf = (room: string) => `${keyPrefix}sample-chat:history:${room}`;
  return {
    append(message) {
      const key = keyOf(message.room);
      redis.multi().rpush(key, JSON.stringify(message)).ltrim(key, -HISTORY_LIMIT, -1).exec().catch(warn);
    },
    recent: (room) =>
      redis.lrange(keyOf(room), 0, -1).then(
        (items) => items.map((item) => JSON.parse(item) as ChatMessage),
        (error: Error) => {
          warn(error);
          return [];
        },
      ),
    close: async () => {
      redis.disconnect();
    },
  };
}

export function createChatHistory(options: ChatHistoryOptions = {}): ChatHistory {
  return options.redisUrl === undefined || options.redisUrl === ""
    ? memoryHistory()
    : redisHistory(options.redisUrl, options.keyPrefix ?? "switchyard:");
}

/** Acks with the room's history, at once when it is in memory. */
export function ackHistory(history: ChatHistory, room: unknown, ack: (messages: ChatMessage[]) => void): void {
  if (typeof room !== "string") return ack([]);
  const messages = history.recent(room);
  if (Array.isArray(messages)) ack(messages);
  else void messages.then(ack);
}
