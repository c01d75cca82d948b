/**
 * Rewrites docs/config.md from the schema. Run after changing a field:
 * `node --import tsx src/config/write-docs.ts`
 */
import { writeFileSync } from 'node:fs'
import { renderConfigDocs } from './docs.ts'

const target = new URL('../../docs/config.md', import.meta.url)
writeFileSync(target, renderConfigDocs())
console.log(`wrote ${target.pathname}`)
