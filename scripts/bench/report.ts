import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { dirname } from "node:path"

/**
 * The bench's output: one table on stdout, and the same figures as JSON
 * (`bench/results/latest.json`) next to the machine and the time of the run. A figure with a
 * target says whether it was met; one without (`target: null`) is there for comparison.
 */

export interface Figure {
  /** null when nothing could be measured (e.g. no replies arrived). */
  readonly figure: number | null
  readonly unit: string
  readonly target: string | null
  readonly met: boolean | null
  /** One line for the table. */
  readonly note: string
  /** Everything else measured alongside (baselines, percentiles, counts). */
  readonly details?: Readonly<Record<string, unknown>>
}

export type Figures = Readonly<Record<string, Figure>>

export interface Machine {
  readonly cpus: number
  readonly model: string
  readonly memory: string
  readonly node: string
  readonly postgres: string
  readonly platform: string
}

export const describeMachine = (postgres: string): Machine => ({
  cpus: cpus().length,
  model: cpus()[0]?.model ?? "unknown",
  memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  node: process.version,
  postgres,
  platform: `${process.platform} ${process.arch}`
})

const formatNumber = (value: number | null): string => {
  if (value === null || Number.isNaN(value)) return "—"
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US")
  return String(Math.round(value * 100) / 100)
}

export const table = (figures: Figures): string => {
  const rows = Object.entries(figures).map(([name, figure]) => [
    name,
    `${formatNumber(figure.figure)} ${figure.unit}`,
    figure.target ?? "—",
    figure.met === null ? "—" : figure.met ? "yes" : "NO",
    figure.note
  ])
  const header = ["measurement", "figure", "target", "met", "notes"]
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length))
  )
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n")
}

export const writeResults = (
  path: string,
  results: {
    readonly machine: Machine
    readonly time: string
    readonly options: Readonly<Record<string, unknown>>
    readonly results: Figures
  }
) => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`)
}
