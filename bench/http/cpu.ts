/**
 * CPU accounting from /proc (Linux; elsewhere every figure is undefined): a process's CPU
 * time, and how much of the machine processes outside the benchmark used during a run.
 * On a shared 2-core machine the second is what says whether a row can be trusted.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

const TICKS_PER_S = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const n = Number(out.stdout?.trim())
  return Number.isInteger(n) && n > 0 ? n : 100
})()

/**
 * CPU time `pid` has used so far, in ns, all its threads together (Varnish works in its
 * worker threads, Node in its main thread plus GC and libuv threads), from
 * /proc/<pid>/task/<tid>/schedstat; undefined once gone. Finer than the 10 ms ticks of
 * /proc/<pid>/stat; a thread that ends between two readings takes its time with it, which
 * the long-lived thread pools of the servers measured here make rare.
 */
export function cpuNs(pid: number): number | undefined {
  try {
    let total = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
      } catch {
        // The thread ended between readdir and read.
      }
    }
    return Number.isFinite(total) ? total : undefined
  } catch {
    return undefined
  }
}

/**
 * Busy and total CPU seconds of the whole machine since boot, all CPUs together, and the
 * interrupt time among the busy (irq, softirq): on loopback that is mostly the kernel moving
 * the benchmark's own packets, charged to no process.
 */
function machineSeconds(): { busy: number; interrupts: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal; guest time is already inside user.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
    const interrupts = (fields[5] ?? 0) + (fields[6] ?? 0)
    return {
      busy: (total - idle) / TICKS_PER_S,
      interrupts: interrupts / TICKS_PER_S,
      total: total / TICKS_PER_S,
    }
  } catch {
    return undefined
  }
}

/** This process's CPU seconds plus those of its children it has reaped (wrk runs, stopped servers). */
function selfAndReapedSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime, stime, cutime, cstime are fields 14-17; rest starts at field 3.
    const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(rest[i]), 0)
    return ticks / TICKS_PER_S
  } catch {
    return undefined
  }
}

/** Share of the machine's CPUs kept busy over `ms`, by anything; undefined without /proc. */
export async function machineBusyShare(ms: number): Promise<number | undefined> {
  const a = machineSeconds()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const b = machineSeconds()
  if (a === undefined || b === undefined || b.total === a.total) return undefined
  return (b.busy - a.busy) / (b.total - a.total)
}

/**
 * Starts measuring; the returned function gives the share of the machine's CPU capacity
 * used since by processes other than this one, its reaped children and `pids`. Interrupt
 * time is left out: at tens of thousands of requests a second it is mostly the kernel
 * moving the benchmark's own loopback packets (about 8% of a 2-core machine), charged to no
 * process, and counting it as someone else's would flag quiet runs as noisy.
 */
export function watchOtherCpu(pids: readonly number[]): () => number | undefined {
  // Per pid, so a process that comes or goes meanwhile (nginx's cache loader exits after a
  // minute) leaves the others' figures usable; only the processes there at both ends count.
  const each = () => new Map(pids.map((pid) => [pid, cpuNs(pid)]))
  const machineBefore = machineSeconds()
  const selfBefore = selfAndReapedSeconds()
  const pidsBefore = each()
  return () => {
    const machineAfter = machineSeconds()
    const selfAfter = selfAndReapedSeconds()
    const pidsAfter = each()
    if (machineBefore === undefined || machineAfter === undefined) return undefined
    if (selfBefore === undefined || selfAfter === undefined) return undefined
    let ours = selfAfter - selfBefore
    for (const [pid, after] of pidsAfter) {
      const before = pidsBefore.get(pid)
      if (before !== undefined && after !== undefined) ours += (after - before) / 1e9
    }
    const capacity = machineAfter.total - machineBefore.total
    if (capacity <= 0) return undefined
    const busy = machineAfter.busy - machineAfter.interrupts - (machineBefore.busy - machineBefore.interrupts)
    return Math.max(0, (busy - ours) / capacity)
  }
}
