import { type EndpointHealth, RetrySchedule } from "@messaging-api/domain"
import type { InstallationsApi } from "@messaging-api/http"
import { formatTable } from "./TextTable.ts"

/** How the `installations` commands print an installation for a person: its bot, endpoint and schedule. */

export const describeBot = (bot: InstallationsApi.BotView) => {
  switch (bot._tag) {
    case "echo":
      return "echo"
    case "http":
      return `http ${bot.url}`
    case "llm":
      return `llm ${bot.model} at ${bot.baseUrl}${bot.apiKey === undefined ? "" : " (key set)"}`
  }
}

/** A pull-only installation has no response URL: its replies are read, not POSTed. */
export const describeResponseUrl = (url: string | null) => url ?? "none (pull-only)"

export const describeSchedule = (schedule: RetrySchedule.RetrySchedule) =>
  schedule.length === 0 ? "none" : RetrySchedule.formatRetrySchedule(schedule)

/** `healthy`, `failing since …`, `paused at … (failing since …)`. */
export const describeEndpoint = (endpoint: EndpointHealth.EndpointStatus) => {
  switch (endpoint.status) {
    case "healthy":
      return "healthy"
    case "failing":
      return `failing since ${endpoint.failingSince ?? "?"}`
    case "paused":
      return `paused at ${endpoint.pausedAt ?? "?"}${
        endpoint.failingSince === undefined ? "" : ` (failing since ${endpoint.failingSince})`
      }`
  }
}

/** `installations show`: one installation, a line a property. */
export const describeInstallation = (installation: InstallationsApi.InstallationView) =>
  [
    `Installation ${installation.id}`,
    `  bot             ${describeBot(installation.bot)}`,
    `  response URL    ${describeResponseUrl(installation.responseUrl)}`,
    `  endpoint        ${describeEndpoint(installation.endpoint)}`,
    ...(installation.endpoint.lastError === undefined
      ? []
      : [`  last error      ${installation.endpoint.lastError}`]),
    `  webhook URL     ${installation.webhookUrl}`,
    `  retry schedule  ${describeSchedule(installation.retrySchedule)}`,
    `  created         ${installation.createdAt}`
  ].join("\n")

/** `installations create`: the new installation, its secret (shown this once) and what to do next. */
export const describeCreated = (created: InstallationsApi.InstallationView) =>
  [
    `Created installation ${created.id}`,
    `  bot             ${describeBot(created.bot)}`,
    `  response URL    ${describeResponseUrl(created.responseUrl)}`,
    `  webhook URL     ${created.webhookUrl}`,
    `  signing secret  ${created.signingSecret}`,
    `  retry schedule  ${describeSchedule(created.retrySchedule)}`,
    "",
    "POST user messages to the webhook URL with a token from:",
    `  messaging-api tokens create --installation ${created.id}`
  ].join("\n")

/** `installations list`: a table, a row an installation. */
export const installationTable = (all: ReadonlyArray<InstallationsApi.InstallationView>) =>
  formatTable(
    ["ID", "BOT", "RESPONSE URL", "ENDPOINT", "WEBHOOK URL", "RETRY SCHEDULE"],
    all.map((installation) => [
      installation.id,
      describeBot(installation.bot),
      describeResponseUrl(installation.responseUrl),
      installation.endpoint.status,
      installation.webhookUrl,
      describeSchedule(installation.retrySchedule)
    ])
  )
