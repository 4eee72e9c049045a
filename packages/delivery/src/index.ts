export * as Conversations from "./Conversations.ts"
