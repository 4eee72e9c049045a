import { defineConfig } from "vitest/config"

const packages = ["domain", "delivery", "http", "console", "server"]

// One configuration for every package; `npm test` runs it with `--config vitest.workspace.ts`.
export default defineConfig({
  test: {
    projects: packages.map((name) => ({
      extends: true as const,
      test: {
        name,
        root: `packages/${name}`,
        include: ["test/**/*.test.ts"],
        passWithNoTests: true,
        // Each package gets a database of its own, so one package's workers never see another's data.
        globalSetup: ["../../scripts/test-database.ts"]
      }
    })),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2
  }
})
