export * as ConsoleAssets from "./ConsoleAssets.ts"
export * as ConsoleRoutes from "./ConsoleRoutes.ts"
