import type { Spread } from './load.js'

/** One line of the results table. */
export interface Row {
  scenario: string
  rps?: number
  /** Cores the server kept busy: near 1 on a throughput run means the server, not the load generator, was the limit. */
  cpu?: number
  latency?: Spread
  /** The ratio or count the scenario is about. */
  figure?: string
  target?: string
  pass?: boolean
}

const ms = (value: number): string => value < 10 ? value.toFixed(2) : value.toFixed(1)
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`

const COLUMNS: ReadonlyArray<{ title: string, numeric: boolean, cell: (row: Row) => string }> = [
  { title: 'scenario', numeric: false, cell: row => row.scenario },
  { title: 'req/s', numeric: true, cell: row => row.rps === undefined ? '' : row.rps.toFixed(row.rps < 100 ? 1 : 0) },
  { title: 'server CPU', numeric: true, cell: row => row.cpu === undefined ? '' : `${(row.cpu * 100).toFixed(0)} %` },
  { title: 'p50 ms', numeric: true, cell: row => row.latency === undefined ? '' : ms(row.latency.p50) },
  { title: 'p99 ms', numeric: true, cell: row => row.latency === undefined ? '' : ms(row.latency.p99) },
  { title: 'figure', numeric: false, cell: row => row.figure ?? '' },
  { title: 'target', numeric: false, cell: row => row.target ?? '' },
  { title: 'result', numeric: false, cell: row => row.pass === undefined ? '' : row.pass ? 'pass' : 'FAIL' }
]

/** A Markdown table that reads as well in a terminal: columns padded, numbers aligned right. */
export function table (rows: readonly Row[]): string {
  const cells = rows.map(row => COLUMNS.map(column => column.cell(row)))
  const widths = COLUMNS.map((column, index) => Math.max(column.title.length, ...cells.map(cell => cell[index]?.length ?? 0)))
  const line = (cell: readonly string[]): string => `| ${cell.map((text, index) => {
    const width = widths[index] ?? 0
    return COLUMNS[index]?.numeric === true ? text.padStart(width) : text.padEnd(width)
  }).join(' | ')} |`
  const rule = `|${widths.map((width, index) => COLUMNS[index]?.numeric === true ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2)).join('|')}|`
  return [line(COLUMNS.map(column => column.title)), rule, ...cells.map(line)].join('\n')
}
