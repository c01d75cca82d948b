/**
 * Checks the local store in the directory given as the only argument, in a process of its
 * own (local-directory.ts runs it): opens it and reads every record. Exits 0 when usable;
 * anything else (an error, or a crash on a damaged file) means set it aside.
 */
import { createLocalStore } from './local-store.ts'

const [path] = process.argv.slice(2)
if (path === undefined) {
  process.stderr.write('usage: local-check DIR\n')
  process.exit(2)
}
const store = createLocalStore({ path })
const problem = store.verify()
await store.close()
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`)
  process.exit(1)
}
