/**
 * The child process of local-peer.ts: opens a local store with the options in argv[2] and
 * answers the parent's commands over IPC until it is killed. Run only by startLocalPeer.
 */
import { join } from 'node:path'
import { open } from 'lmdb'
import { createLocalStore } from '../../src/storage/local-store.ts'
import {
  auditFills,
  entryFor,
  fillEntry,
  type PeerCommand,
  type PeerMessage,
  type PeerStoreOptions,
  seenOf,
} from './local-peer.ts'

const { dieOnEvict = false, ...options } = JSON.parse(process.argv[2] ?? '{}') as PeerStoreOptions
const store = createLocalStore({
  ...options,
  ...(dieOnEvict && { onEvict: () => process.kill(process.pid, 'SIGKILL') }),
})

function reply(message: PeerMessage): void {
  process.send?.(message)
}

/** Lets the event loop run: IPC messages go out and lmdb-js ends its read transaction. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

async function run(id: number, command: PeerCommand): Promise<unknown> {
  switch (command.op) {
    case 'set':
      return store.set(command.key, entryFor(command.key, command.size, command))
    case 'peek':
      return seenOf(command.key, store.peek(command.key)) ?? null
    case 'get':
      return seenOf(command.key, await store.get(command.key)) ?? null
    case 'purge':
      return store.purge(command.selector, { soft: command.soft })
    case 'audit':
      return auditFills(store, command.fills)
    case 'fill': {
      let stored = 0
      for (let i = 0; i < command.fill.count; i++) {
        const { key, size, tags } = fillEntry(command.fill, i)
        if (await store.set(key, entryFor(key, size, { tags }))) stored++
        if ((i + 1) % command.progressEvery === 0) reply({ id, progress: i + 1 })
        if (i % 16 === 15) await tick()
      }
      return stored
    }
    case 'read-loop': {
      // The store's own reads are short, and a SIGKILL can land between two of them. So that
      // this process surely dies holding a snapshot, it also keeps one open, as a long scan
      // would: through lmdb itself, on the environment the store opened (lmdb-js shares one
      // environment per path within a process).
      const env = open({ path: join(options.path, 'store'), noSync: true, overlappingSync: false })
      env.useReadTransaction()
      for (let pass = 0; ; pass++) {
        for (let n = 0; n < 200; n++) for (const key of command.keys) store.peek(key)
        if (pass === 0) reply({ id, progress: 1 })
        await tick()
      }
    }
  }
}

process.on('message', (raw) => {
  const { id, ...command } = raw as PeerCommand & { id: number }
  run(id, command as PeerCommand).then(
    (value) => reply({ id, ok: true, value }),
    (err: unknown) => reply({ id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  )
})
reply({ ready: true })
