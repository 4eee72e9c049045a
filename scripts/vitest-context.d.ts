// What the global test setup (scripts/test-database.ts) provides to every test file.
declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

export {}
