/** The channel chat messages are published on. */
export const MESSAGES_CHANNEL = "chat.messages";

export interface ChatMessage {
  from: string;
  text: string;
}

/** Anyone holding a chat token can publish: check the shape before rendering it. */
export const isChatMessage = (payload: unknown): payload is ChatMessage =>
  typeof payload === "object" && payload !== null &&
  typeof (payload as ChatMessage).from === "string" &&
  typeof (payload as ChatMessage).text === "string";
